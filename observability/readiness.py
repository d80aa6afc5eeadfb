"""Readiness: is this deployment able to do its work? One function per check, each ``(ok, detail)``.

The details name what is wrong in words and figures only: never a URL, a host, a password or an
exception's text (which can hold them), only the exception's class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Min
from django.utils import timezone

from actions.models import Action, ActionState
from instagram.models import InboundEvent, InboundEventState
from observability.models import HeartbeatRole
from observability.selectors import heartbeat_ages

# The database the checks use (a test points it at one that cannot connect).
DATABASE_ALIAS = DEFAULT_DB_ALIAS
BROKER_TIMEOUT_SECONDS = 2.0
UNPROCESSED_EVENT_STATES = (InboundEventState.PENDING, InboundEventState.PROCESSING)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class _Context:
    now: datetime


def _database(context: _Context) -> CheckResult:
    with connections[DATABASE_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return CheckResult(True, "reachable")


def _broker(context: _Context) -> CheckResult:
    if not settings.REDIS_URL:
        return CheckResult(True, "the database is the broker (no REDIS_URL)")
    client = redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=BROKER_TIMEOUT_SECONDS, socket_timeout=BROKER_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return CheckResult(True, "Redis answers")


_migrations_applied = False  # once true in a process, it stays true: its code cannot gain migrations


def _migrations(context: _Context) -> CheckResult:
    global _migrations_applied
    if not _migrations_applied:
        executor = MigrationExecutor(connections[DATABASE_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            return CheckResult(False, f"{len(plan)} migrations not applied")
        _migrations_applied = True
    return CheckResult(True, "all applied")


def _heartbeat(role: str, max_age: Callable[[], int]) -> Callable[[_Context], CheckResult]:
    def check(context: _Context) -> CheckResult:
        age = heartbeat_ages(now=context.now)[role]
        limit = max_age()
        if age is None:
            return CheckResult(False, f"no {role} heartbeat recorded")
        if age > limit:
            return CheckResult(False, f"last {role} heartbeat {age:.0f} s ago (more than {limit} s)")
        return CheckResult(True, f"last heartbeat {age:.0f} s ago")

    return check


def _age_check(oldest: datetime | None, *, now: datetime, limit: int, what: str) -> CheckResult:
    if oldest is None:
        return CheckResult(True, f"no {what}")
    age = max(0.0, (now - oldest).total_seconds())
    if age > limit:
        return CheckResult(False, f"oldest {what} is {age:.0f} s old (more than {limit} s)")
    return CheckResult(True, f"oldest {what} is {age:.0f} s old")


def _inbound_backlog(context: _Context) -> CheckResult:
    oldest = InboundEvent.objects.filter(state__in=UNPROCESSED_EVENT_STATES).aggregate(oldest=Min("received_at"))
    return _age_check(
        oldest["oldest"], now=context.now, limit=settings.HEALTH_INBOUND_MAX_AGE_SECONDS, what="unprocessed event"
    )


def _overdue_actions(context: _Context) -> CheckResult:
    oldest = Action.all_workspaces.filter(state=ActionState.PLANNED, due_at__lte=context.now).aggregate(
        oldest=Min("due_at")
    )
    return _age_check(
        oldest["oldest"], now=context.now, limit=settings.HEALTH_OVERDUE_ACTION_MAX_AGE_SECONDS, what="overdue action"
    )


CHECKS: dict[str, Callable[[_Context], CheckResult]] = {
    "database": _database,
    "broker": _broker,
    "migrations": _migrations,
    "dispatcher": _heartbeat(HeartbeatRole.DISPATCHER, lambda: settings.HEALTH_DISPATCHER_MAX_AGE_SECONDS),
    "worker": _heartbeat(HeartbeatRole.WORKER, lambda: settings.HEALTH_WORKER_MAX_AGE_SECONDS),
    "schedules": _heartbeat(HeartbeatRole.SCHEDULER, lambda: settings.HEALTH_SCHEDULER_MAX_AGE_SECONDS),
    "inbound_backlog": _inbound_backlog,
    "overdue_actions": _overdue_actions,
}
# Checks that read the database: reported as failing without a try when the database is not reachable.
NEEDS_DATABASE = frozenset(CHECKS) - {"database", "broker"}


def readiness_check(*, names: list[str] | None = None, now: datetime | None = None) -> dict[str, CheckResult]:
    """Run the named checks (all by default, in ``CHECKS`` order). An error in a check is its failure, by class."""
    context = _Context(now=now or timezone.now())
    wanted = [name for name in CHECKS if names is None or name in names]
    results: dict[str, CheckResult] = {}
    database_down = False
    for name in wanted:
        if name in NEEDS_DATABASE and database_down:
            results[name] = CheckResult(False, "the database is not reachable")
            continue
        try:
            results[name] = CHECKS[name](context)
        except Exception as exc:
            results[name] = CheckResult(False, f"{type(exc).__name__}")
            if name == "database":
                database_down = True
    return results
