"""/healthz and /readyz: every readiness check turned red by a real fault, and back to green."""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder
from django.db.utils import load_backend
from django.test import Client
from django.utils import timezone
from django_q.signals import pre_execute
from pytest_django.fixtures import Settings

from actions.dispatcher.loop import dispatcher_run
from actions.models import Action, ActionState
from instagram.models import InboundEvent, InboundEventState
from observability import readiness
from observability.models import Heartbeat, HeartbeatRole
from observability.services import heartbeat_beat, worker_signals_connect
from observability.tasks import schedules_heartbeat
from tests.factories import ActionFactory


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def beat_all(*, ago: timedelta = timedelta(0)) -> None:
    for role in HeartbeatRole.values:
        heartbeat_beat(role=role, name=f"test:{role}", now=timezone.now() - ago, force=True)


def readyz(client: Client) -> tuple[int, dict[str, Any]]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


@pytest.fixture
def green(db: None, settings: Settings) -> None:
    """Every process has just beaten, nothing waits, no Redis: ready."""
    settings.REDIS_URL = ""
    beat_all()


def test_healthz_answers_without_the_database(client: Client) -> None:
    # No ``db`` fixture: pytest-django refuses any query, so a 200 proves none was made.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"
    assert client.head("/healthz").status_code == 200  # probes that send HEAD
    assert client.post("/healthz").status_code == 405


def test_ready_when_every_check_passes(green: None, client: Client) -> None:
    status, body = readyz(client)
    assert status == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == set(readiness.CHECKS)
    assert all(check["ok"] for check in body["checks"].values())


@pytest.fixture
def unreachable_database() -> Iterator[BaseDatabaseWrapper]:
    """The ``default`` database's settings pointed at a server that cannot be reached (PostgreSQL: a closed
    port) or a file that cannot be opened (SQLite), as a connection of its own."""
    config = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
    if connection.vendor == "sqlite":
        config["NAME"] = "/nonexistent-directory/instaforge.sqlite3"
    else:
        config.update(HOST="127.0.0.1", PORT=str(closed_port()))
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "connect_timeout": 2}
    unreachable = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias=DEFAULT_DB_ALIAS)
    try:
        yield unreachable
    finally:
        unreachable.close()


def test_database_unreachable_is_red_then_green(
    green: None, client: Client, unreachable_database: BaseDatabaseWrapper
) -> None:
    # The readiness checks' database connection is one to the unreachable server.
    with mock.patch.object(readiness, "connections", {DEFAULT_DB_ALIAS: unreachable_database}):
        status, body = readyz(client)
    assert status == 503
    assert body["checks"]["database"] == {"ok": False, "detail": "OperationalError"}
    assert "database" in body["failing"]
    assert "127.0.0.1" not in str(body) and "nonexistent" not in str(body)  # no host or path in the body

    status, body = readyz(client)
    assert status == 200, body


def test_redis_unreachable_is_red_then_green(green: None, client: Client, settings: Settings) -> None:
    settings.REDIS_URL = f"redis://:secret-password@127.0.0.1:{closed_port()}/6"
    status, body = readyz(client)
    assert status == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["detail"] == "ConnectionError"
    assert "secret-password" not in str(body)

    # Back: the real Redis when the suite has one, else the ORM broker.
    settings.REDIS_URL = os.environ.get("REDIS_URL", "")
    status, body = readyz(client)
    assert status == 200, body
    if settings.REDIS_URL:
        assert body["checks"]["broker"]["detail"] == "Redis answers"


def test_unapplied_migration_is_red_then_green(green: None, client: Client) -> None:
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("observability", "0001_initial")
    with mock.patch.object(readiness, "_migrations_applied", False):
        status, body = readyz(client)
        assert status == 503
        assert body["failing"] == ["migrations"]
        assert body["checks"]["migrations"]["detail"] == "1 migrations not applied"

        recorder.record_applied("observability", "0001_initial")
        status, body = readyz(client)
    assert status == 200, body


@pytest.mark.django_db(transaction=True)
def test_a_killed_dispatcher_is_red_until_one_runs_again(client: Client, settings: Settings) -> None:
    settings.REDIS_URL = ""
    beat_all()
    Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).delete()
    status, body = readyz(client)
    assert status == 503 and body["failing"] == ["dispatcher"]
    assert body["checks"]["dispatcher"]["detail"] == "no dispatcher heartbeat recorded"

    # A real dispatcher loop beats with its first housekeeping...
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher_run, kwargs={"stop": stop, "poll_seconds": 0.05, "send_threads": 1})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).exists():
            assert time.monotonic() < deadline, "the dispatcher never beat"
            time.sleep(0.05)
    finally:
        stop.set()  # ... and is stopped for good ("killed": it never beats again)
        thread.join(timeout=10)
    status, body = readyz(client)
    assert status == 200, body

    # Time passes: its last heartbeat grows older than HEALTH_DISPATCHER_MAX_AGE_SECONDS.
    Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).update(
        beat_at=timezone.now() - timedelta(seconds=settings.HEALTH_DISPATCHER_MAX_AGE_SECONDS + 5)
    )
    status, body = readyz(client)
    assert status == 503 and body["failing"] == ["dispatcher"]
    assert "more than 60 s" in body["checks"]["dispatcher"]["detail"]

    heartbeat_beat(role=HeartbeatRole.DISPATCHER, force=True)  # another dispatcher starts
    status, body = readyz(client)
    assert status == 200, body


def test_silent_workers_and_scheduler_are_red_until_a_task_runs(green: None, client: Client) -> None:
    beat_all(ago=timedelta(minutes=10))
    status, body = readyz(client)
    assert status == 503
    assert body["failing"] == ["dispatcher", "worker", "schedules"]

    # django-q2 starts a task in a worker (the signal it sends before each task): the worker role beats.
    receiver = worker_signals_connect()
    try:
        pre_execute.send(sender="django_q", func=schedules_heartbeat, task={})
    finally:
        pre_execute.disconnect(receiver, dispatch_uid="observability.worker_heartbeat")
    schedules_heartbeat()  # the heartbeat schedule runs: the scheduler beats
    heartbeat_beat(role=HeartbeatRole.DISPATCHER, force=True)
    status, body = readyz(client)
    assert status == 200, body


def test_a_stuck_inbound_event_is_red_until_it_is_processed(green: None, client: Client, settings: Settings) -> None:
    event = InboundEvent.objects.create(
        dedupe_key="comments:1:stuck",
        object_type="instagram",
        field="comments",
        entry_id="1",
        payload={},
        received_at=timezone.now() - timedelta(seconds=settings.HEALTH_INBOUND_MAX_AGE_SECONDS + 30),
    )
    status, body = readyz(client)
    assert status == 503 and body["failing"] == ["inbound_backlog"]
    assert body["checks"]["inbound_backlog"]["detail"].startswith("oldest unprocessed event is 3")

    InboundEvent.objects.filter(pk=event.pk).update(state=InboundEventState.PROCESSED, processed_at=timezone.now())
    status, body = readyz(client)
    assert status == 200, body


def test_an_overdue_action_is_red_until_it_is_sent(green: None, client: Client, settings: Settings) -> None:
    late = timezone.now() - timedelta(seconds=settings.HEALTH_OVERDUE_ACTION_MAX_AGE_SECONDS + 60)
    action = ActionFactory.create(due_at=late)
    ActionFactory.create(due_at=timezone.now() - timedelta(seconds=5))  # due just now: fine
    status, body = readyz(client)
    assert status == 503 and body["failing"] == ["overdue_actions"]

    Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.SUCCEEDED)
    status, body = readyz(client)
    assert status == 200, body


def test_checks_can_be_chosen_and_unknown_ones_are_refused(green: None, client: Client) -> None:
    Heartbeat.objects.all().delete()
    response = client.get("/readyz?check=database&check=broker&check=migrations")
    assert response.status_code == 200
    assert list(response.json()["checks"]) == ["database", "broker", "migrations"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/readyz?check=nope").status_code == 400


def test_no_login_and_no_https_redirect_for_probes(green: None, client: Client, settings: Settings) -> None:
    settings.DEBUG = False
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/accounts/login/").status_code == 301  # everything else is still redirected
