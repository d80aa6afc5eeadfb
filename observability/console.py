"""The operators' console: the figures on the admin's index, read across every workspace.

Each function is one read (at most three queries), grouped in SQL: hour buckets with Django's ``Trunc``
(the same on SQLite and PostgreSQL), counts with ``GROUP BY``, the gate's reasons turned into their bounded
categories by a ``CASE`` in the query. No loop issues a query per row, so the console costs a fixed number
of queries however many accounts, actions and events there are (observability/tests/test_console.py).
The page that shows them, and who may see which, is ``observability.dashboard``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Case, CharField, Count, DurationField, ExpressionWrapper, F, Max, Q, Value, When
from django.db.models.functions import TruncHour
from django.utils import timezone
from django_q.models import Failure

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionDecision, ActionState, Verdict
from alerts.models import Alert
from instagram.models import InboundEvent, InboundEventState
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from observability.models import HeartbeatRole
from observability.selectors import heartbeat_ages
from safety.models import AccountUsage
from safety.services import GATE_REASON_CATEGORIES

WINDOW = timedelta(hours=24)
LAG_WINDOW = timedelta(hours=1)
# The outcomes of an action that finished (actions.models.ActionState), in the chart's order.
OUTCOMES = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED, ActionState.UNKNOWN)
# A CRM endpoint is failing as the alert sweep sees it (alerts.conditions): a delivery that gave up, or one still
# retrying after this many attempts, within the window, with no delivery to it succeeding since.
CRM_FAILED_ATTEMPTS = 2
TOP = 10


def hours_last_day(*, now: datetime) -> list[datetime]:
    """The 24 hour buckets (UTC) that end with the current hour, oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=offset) for offset in range(23, -1, -1)]


def _hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def console_accounts_by_state() -> dict[str, int]:
    """How many Instagram accounts are in each lifecycle state (every state, zero included). One query."""
    counts = dict.fromkeys(AccountState.values, 0)
    for row in InstagramAccount.all_workspaces.order_by().values("state").annotate(count=Count("pk")):
        counts[row["state"]] = row["count"]
    return counts


def console_actions_per_hour(*, now: datetime) -> dict[str, list[int]]:
    """Actions that finished in each of the last 24 hours, by outcome: ``{outcome: [24 counts, oldest first]}``.

    One query, grouped by hour (UTC) and state.
    """
    hours = hours_last_day(now=now)
    index = {hour: position for position, hour in enumerate(hours)}
    series = {outcome.value: [0] * len(hours) for outcome in OUTCOMES}
    rows = (
        Action.all_workspaces.filter(finished_at__gte=hours[0], finished_at__lte=now, state__in=series)
        .annotate(hour=TruncHour("finished_at", tzinfo=UTC))
        .order_by()
        .values("hour", "state")
        .annotate(count=Count("pk"))
    )
    for row in rows:
        position = index.get(_hour(row["hour"]))
        if position is not None:
            series[row["state"]][position] += row["count"]
    return series


def _reason_category() -> Case:
    """``safety.services.gate_reason_category`` as SQL: a deferral's reason → its bounded category."""
    whens = [When(reason__startswith=start, then=Value(category)) for start, category in GATE_REASON_CATEGORIES]
    whens += [
        When(reason__contains="window, resets at", then=Value("shared_limit")),
        When(reason__startswith="Meta", reason__contains=" used in the last ", then=Value("meta_limit")),
        When(reason__contains=" used in the last ", then=Value("limit")),
        When(reason__contains=" by risk ", then=Value("risk")),
    ]
    return Case(*whens, default=Value("other"), output_field=CharField())


def console_deferrals_by_reason(*, now: datetime) -> dict[str, int]:
    """The gate's deferrals over the last 24 hours by the kind of reason (most first). One query."""
    rows = (
        ActionDecision.all_workspaces.filter(verdict=Verdict.DEFER, at__gte=now - WINDOW, at__lte=now)
        .annotate(category=_reason_category())
        .order_by()
        .values("category")
        .annotate(count=Count("pk"))
    )
    counts = {row["category"]: row["count"] for row in rows}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def console_inbound_per_hour(*, now: datetime) -> list[int]:
    """Inbound events (webhook changes stored) received in each of the last 24 hours, oldest first. One query."""
    hours = hours_last_day(now=now)
    index = {hour: position for position, hour in enumerate(hours)}
    counts = [0] * len(hours)
    rows = (
        InboundEvent.objects.filter(received_at__gte=hours[0], received_at__lte=now)
        .annotate(hour=TruncHour("received_at", tzinfo=UTC))
        .order_by()
        .values("hour")
        .annotate(count=Count("pk"))
    )
    for row in rows:
        position = index.get(_hour(row["hour"]))
        if position is not None:
            counts[position] += row["count"]
    return counts


@dataclass(frozen=True)
class InboundLag:
    """Received → processed over the events processed in the last hour (seconds; None without any)."""

    processed: int
    median: float | None
    p95: float | None


def _nearest_rank(count: int, fraction: float) -> int:
    """The 0-based position of the ``fraction`` percentile by the nearest-rank method."""
    return max(0, math.ceil(fraction * count) - 1)


def console_inbound_lag(*, now: datetime) -> InboundLag:
    """Median and p95 of received → processed for events processed in the last hour (nearest rank).

    Exact, in three queries whatever the volume: the count, then the two ranks read by offset from the events
    ordered by their lag in SQL.
    """
    processed = InboundEvent.objects.filter(
        state=InboundEventState.PROCESSED, processed_at__gte=now - LAG_WINDOW, processed_at__lte=now
    )
    count = processed.count()
    if not count:
        return InboundLag(0, None, None)
    by_lag = processed.annotate(
        lag=ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField())
    ).order_by("lag", "pk")

    def rank(fraction: float) -> float:
        row = by_lag.values("received_at", "processed_at")[_nearest_rank(count, fraction)]
        return max(0.0, (row["processed_at"] - row["received_at"]).total_seconds())

    return InboundLag(count, rank(0.5), rank(0.95))


@dataclass(frozen=True)
class RiskyAccount:
    account_id: int
    username: str
    workspace: str
    state: str
    risk_score: int


def console_riskiest_accounts(*, limit: int = TOP) -> list[RiskyAccount]:
    """The accounts with the highest risk score above zero, highest first. One query."""
    rows = (
        AccountUsage.objects.filter(risk_score__gt=0)
        .order_by("-risk_score", "account_id")
        .values_list("account_id", "account__username", "account__workspace__name", "account__state", "risk_score")[
            :limit
        ]
    )
    return [RiskyAccount(*row) for row in rows]


@dataclass(frozen=True)
class FailingEndpoint:
    endpoint_id: int
    host: str
    workspace: str
    failures: int
    last_failure_at: datetime
    last_success_at: datetime | None


def _host(url: str) -> str:
    """An endpoint's scheme and host: its path, query and any user info may hold a customer's secret."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}"


def console_failing_endpoints(*, now: datetime, limit: int = TOP) -> list[FailingEndpoint]:
    """Active CRM endpoints with failing deliveries in the last 24 hours and no success since (most failures first).

    One query: the endpoints annotated with their failure count, their latest failure and their latest success.
    """
    recent = Q(deliveries__created_at__gte=now - WINDOW, deliveries__created_at__lte=now)
    failing = recent & (
        Q(deliveries__state=DeliveryState.FAILED)
        | Q(deliveries__state=DeliveryState.PENDING, deliveries__attempts__gte=CRM_FAILED_ATTEMPTS)
    )
    rows = (
        WebhookEndpoint.all_workspaces.filter(is_active=True)
        .annotate(
            failures=Count("deliveries", filter=failing),
            last_failure_at=Max("deliveries__created_at", filter=failing),
            last_success_at=Max("deliveries__created_at", filter=Q(deliveries__state=DeliveryState.SUCCEEDED)),
        )
        .filter(failures__gt=0)
        .filter(Q(last_success_at__isnull=True) | Q(last_success_at__lt=F("last_failure_at")))
        .order_by("-failures", "-last_failure_at", "pk")
        .values_list("pk", "url", "workspace__name", "failures", "last_failure_at", "last_success_at")[:limit]
    )
    return [
        FailingEndpoint(pk, _host(url), workspace, failures, last_failure, last_success)
        for pk, url, workspace, failures, last_failure, last_success in rows
    ]


def console_pending_deliveries() -> int:
    """CRM deliveries waiting for an attempt or under way. One query."""
    return WebhookDelivery.all_workspaces.filter(state__in=[DeliveryState.PENDING, DeliveryState.SENDING]).count()


@dataclass(frozen=True)
class FailedTask:
    task_id: str
    name: str
    func: str
    stopped: datetime
    attempts: int


def console_failed_tasks(*, limit: int = TOP) -> list[FailedTask]:
    """The latest failed django-q2 tasks (their result, which may quote an error, is not read). One query."""
    rows = Failure.objects.order_by("-stopped").values_list("id", "name", "func", "stopped", "attempt_count")[:limit]
    return [FailedTask(*row) for row in rows]


@dataclass(frozen=True)
class OpenAlerts:
    total: int
    latest: list[Alert]


def console_open_alerts(*, limit: int = TOP) -> OpenAlerts:
    """The open alerts of every workspace and the platform: how many, and the latest ones. Two queries."""
    open_alerts = Alert.all_workspaces.filter(resolved_at__isnull=True)
    return OpenAlerts(open_alerts.count(), list(open_alerts.order_by("-opened_at", "-id")[:limit]))


@dataclass(frozen=True)
class ProcessHeartbeat:
    role: str
    label: str
    age_seconds: float | None
    max_age_seconds: int

    @property
    def alive(self) -> bool:
        return self.age_seconds is not None and self.age_seconds <= self.max_age_seconds


def _heartbeat_max_ages() -> dict[str, int]:
    return {
        HeartbeatRole.DISPATCHER: settings.HEALTH_DISPATCHER_MAX_AGE_SECONDS,
        HeartbeatRole.WORKER: settings.HEALTH_WORKER_MAX_AGE_SECONDS,
        HeartbeatRole.SCHEDULER: settings.HEALTH_SCHEDULER_MAX_AGE_SECONDS,
    }


def console_heartbeats(*, now: datetime | None = None) -> list[ProcessHeartbeat]:
    """Each role's newest heartbeat age against the age /readyz allows it. One query."""
    now = now or timezone.now()
    limits = _heartbeat_max_ages()
    return [
        ProcessHeartbeat(role, HeartbeatRole(role).label, age, limits[role])
        for role, age in heartbeat_ages(now=now).items()
    ]
