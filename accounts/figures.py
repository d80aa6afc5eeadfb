"""The figures of one Instagram account over the last days, for its figures page (reads only).

Everything is grouped in SQL (a fixed number of queries, whatever the account's volume: the page's test
bounds it) and bucketed by day in the account's own time zone, as its warm-up days are; only the response
times are finished in Python, because a median or a 95th percentile has no portable SQL aggregate (SQLite
has none). Every query filters on ``account``, so it runs inside the member's workspace scope.

- Actions per day by type and outcome: an action counts on the day it finished (succeeded, failed, denied,
  outcome unknown), or on the day it was planned while it still waits ("pending").
- Success rate: succeeded ÷ the actions that reached Instagram (succeeded, failed, outcome unknown); the
  gate's denials are shown beside it, they are not failures of sending.
- Response times: a comment's ``received_at`` → the ``finished_at`` of the first successful reply or
  private reply planned from it (``Action.source_kind = "comment"``, ``source_id`` = the comment's id); a
  received DM's ``created_at`` (Meta's timestamp) → the ``finished_at`` of the first automated reply that
  answers it (``AutomatedReply.in_reply_to``) and was sent.
- Errors by code: failed actions grouped by the Graph error stored in ``result["error"]`` (code and kind),
  and the codes of the safety engine's events (errors, rate limits, policy blocks).
- Risk: the score over the period from its samples (``safety.RiskScoreSample``, written by ``risk_refresh`` when
  the score changes and at least hourly), with the current score as the last point; the current score's
  components; and, per day, the safety events that move it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Max, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.models import Action, ActionState, ActionType
from analytics.selectors import (  # shared with the analytics pages: one definition of a response time
    ResponseTimes,
    comment_response_times,
    dm_response_times,
)
from analytics.selectors import duration_text as duration_text  # re-exported for this page's callers
from analytics.selectors import percentile as percentile
from safety.models import AccountUsage, RiskScoreSample, SafetyEvent, SafetyEventKind
from safety.selectors import COMPONENT_NAMES

RANGES = (7, 30, 90)
DEFAULT_RANGE = 30

PENDING = "pending"
OUTCOMES: tuple[tuple[str, str], ...] = (
    (ActionState.SUCCEEDED, "Succeeded"),
    (ActionState.FAILED, "Failed"),
    (ActionState.DENIED, "Denied by the gate"),
    (ActionState.UNKNOWN, "Outcome unknown"),
    (PENDING, "Pending"),
)
_FINISHED_STATES = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED, ActionState.UNKNOWN)
# The attempts that reached Instagram: the denominator of the success rate.
_SENT_STATES = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.UNKNOWN)
_COMMENT_REPLY_TYPES = (ActionType.COMMENT_REPLY, ActionType.PRIVATE_REPLY)
# The safety events the risk score counts (safety.risk.risk_components_compute).
RISK_EVENT_KINDS: tuple[tuple[str, str], ...] = (
    (SafetyEventKind.RATE_LIMIT, "Rate limits"),
    (SafetyEventKind.POLICY_BLOCK, "Policy blocks"),
    (SafetyEventKind.ERROR, "Errors"),
    (SafetyEventKind.REPEATED_TEXT, "Repeated text"),
    (SafetyEventKind.VELOCITY_SPIKE, "Velocity spikes"),
    (SafetyEventKind.USER_BURST, "Reply bursts"),
)
_CODED_EVENT_KINDS = (SafetyEventKind.ERROR, SafetyEventKind.RATE_LIMIT, SafetyEventKind.POLICY_BLOCK)


@dataclass(frozen=True)
class ErrorRow:
    source: str  # "action" (a failed action) or the safety event's kind
    code: str  # Instagram's error code, "—" when the answer had none
    kind: str  # the error's class (e.g. RateLimitError) or the event's label
    count: int
    example: str


@dataclass
class AccountFigures:
    account: InstagramAccount
    days: int
    time_zone: str
    since: datetime
    day_labels: list[str]
    by_outcome: dict[str, list[int]]  # outcome → count per day
    by_type: dict[str, list[int]]  # action type → count per day
    totals: list[tuple[str, list[int], int]]  # (type label, count per outcome in OUTCOMES' order, total)
    outcome_totals: dict[str, int]
    success_rate: float | None  # percent, None when nothing reached Instagram
    comment_times: ResponseTimes
    dm_times: ResponseTimes
    errors: list[ErrorRow]
    risk_score: int
    risk_updated_at: datetime | None
    risk_components: list[tuple[str, int, str]]
    risk_events_by_day: dict[str, list[int]]  # event kind → count per day
    risk_series: list[tuple[datetime, int]]  # (time, score): the samples in the period, then the current score
    risk_events_recent: list[SafetyEvent] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.outcome_totals.values())

    @property
    def sent(self) -> int:
        """The actions that reached Instagram: the success rate's denominator."""
        return sum(self.outcome_totals[state] for state in _SENT_STATES)

    @property
    def outcome_rows(self) -> list[tuple[str, str, int]]:
        """(key, label, count) of each outcome, in the charts' order."""
        return [(key, label, self.outcome_totals[key]) for key, label in OUTCOMES]

    def chart_data(self) -> dict[str, Any]:
        """What the page's script draws (passed with ``json_script``, never inlined)."""
        outcome_labels = dict(OUTCOMES)
        type_labels = dict(ActionType.choices)
        kind_labels = dict(RISK_EVENT_KINDS)
        return {
            "days": self.day_labels,
            "byOutcome": [
                {"key": key, "label": outcome_labels[key], "data": counts} for key, counts in self.by_outcome.items()
            ],
            "byType": [
                {"key": key, "label": type_labels.get(key, key), "data": counts} for key, counts in self.by_type.items()
            ],
            "riskEvents": [
                {"key": key, "label": kind_labels[key], "data": counts}
                for key, counts in self.risk_events_by_day.items()
            ],
            # Milliseconds since the epoch: the script draws them on a linear time axis (no date adapter).
            "riskFrom": int(self.since.timestamp() * 1000),
            "riskScore": [{"t": int(at.timestamp() * 1000), "score": score} for at, score in self.risk_series],
        }


def account_time_zone(account: InstagramAccount) -> ZoneInfo:
    try:
        return ZoneInfo(account.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _day_index(days: list[date]) -> dict[date, int]:
    return {day: index for index, day in enumerate(days)}


def _as_date(value: date | datetime | str) -> date:
    # SQLite hands TruncDate back as a string in some versions; PostgreSQL as a date.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def account_figures(
    *, account: InstagramAccount, days: int = DEFAULT_RANGE, now: datetime | None = None
) -> AccountFigures:
    """The account's figures over the last ``days`` days of its time zone (today included), in 9 queries."""
    zone = account_time_zone(account)
    now = now or timezone.now()
    today = now.astimezone(zone).date()
    day_list = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    since = datetime.combine(day_list[0], time.min, tzinfo=zone)
    index = _day_index(day_list)

    # 1. Actions per day, type and state.
    at = Coalesce("finished_at", "created_at")
    rows = (
        Action.objects.filter(account=account)
        .annotate(at=at)
        .filter(at__gte=since)
        .annotate(day=TruncDate("at", tzinfo=zone))
        .values("day", "action_type", "state")
        .annotate(n=Count("pk"))
        .values_list("day", "action_type", "state", "n")
    )
    by_outcome: dict[str, list[int]] = {key: [0] * days for key, _ in OUTCOMES}
    by_type: dict[str, list[int]] = {}
    type_outcomes: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(by_outcome, 0))
    for day, action_type, state, count in rows:
        position = index.get(_as_date(day))
        if position is None:
            continue
        outcome = state if state in _FINISHED_STATES else PENDING
        by_outcome[outcome][position] += count
        by_type.setdefault(action_type, [0] * days)[position] += count
        type_outcomes[action_type][outcome] += count
    type_labels = dict(ActionType.choices)
    totals = sorted(
        (
            (type_labels.get(key, key), [counts[outcome] for outcome, _ in OUTCOMES], sum(counts.values()))
            for key, counts in type_outcomes.items()
        ),
        key=lambda row: -row[2],
    )
    outcome_totals = {key: sum(counts) for key, counts in by_outcome.items()}
    sent = sum(outcome_totals[state] for state in _SENT_STATES)
    success_rate = 100.0 * outcome_totals[ActionState.SUCCEEDED] / sent if sent else None

    # 2–3. Response times.
    comment_times = comment_response_times(account=account, since=since)
    dm_times = dm_response_times(account=account, since=since)

    # 4. Failed actions by Graph error code and kind.
    errors = [
        ErrorRow(
            source="action",
            code="—" if code in (None, "", "null") else str(code),
            kind=str(kind or "no answer"),
            count=count,
            example=example or "",
        )
        for code, kind, count, example in Action.objects.filter(
            account=account, state=ActionState.FAILED, finished_at__gte=since
        )
        .annotate(code=KT("result__error__code"), kind=KT("result__error__kind"))
        .values("code", "kind")
        .annotate(n=Count("pk"), example=Max("last_reason"))
        .values_list("code", "kind", "n", "example")
    ]
    # 5. The safety engine's coded events (what Instagram answered, including the actions it deferred).
    kind_labels = dict(SafetyEventKind.choices)
    errors += [
        ErrorRow(
            source=kind,
            code="—" if code is None else str(code),
            kind=kind_labels.get(kind, kind),
            count=count,
            example=example or "",
        )
        for kind, code, count, example in SafetyEvent.objects.filter(
            account=account, at__gte=since, kind__in=_CODED_EVENT_KINDS
        )
        .values("kind", "code")
        .annotate(n=Count("pk"), example=Max("detail"))
        .values_list("kind", "code", "n", "example")
    ]
    errors.sort(key=lambda row: (-row.count, row.source, row.code))

    # 6. Risk: the current score (7), the events that move it, per day (6) and the latest ones (8), and the
    # score's samples in the period (9).
    risk_events_by_day: dict[str, list[int]] = {key: [0] * days for key, _ in RISK_EVENT_KINDS}
    for day, kind, count in (
        SafetyEvent.objects.filter(account=account, at__gte=since, kind__in=risk_events_by_day)
        .annotate(day=TruncDate("at", tzinfo=zone))
        .values("day", "kind")
        .annotate(n=Count("pk"))
        .values_list("day", "kind", "n")
    ):
        position = index.get(_as_date(day))
        if position is not None:
            risk_events_by_day[kind][position] += count
    usage = AccountUsage.objects.filter(account_id=account.pk).first()
    components = sorted(
        (
            (COMPONENT_NAMES.get(name, name), int(part.get("points", 0)), str(part.get("detail", "")))
            for name, part in ((usage.risk_components or {}) if usage else {}).items()
            if isinstance(part, dict)
        ),
        key=lambda row: -row[1],
    )
    recent = list(
        SafetyEvent.objects.filter(account=account, at__gte=since).filter(
            Q(kind__in=risk_events_by_day) | Q(kind=SafetyEventKind.SUSPENSION)
        )[:15]
    )
    risk_series = list(
        RiskScoreSample.objects.filter(account=account, at__gte=since, at__lte=now)
        .order_by("at", "pk")
        .values_list("at", "score")
    )
    risk_series.append((now, usage.risk_score if usage else 0))  # the current score ends the line
    return AccountFigures(
        account=account,
        days=days,
        time_zone=str(zone),
        since=since,
        day_labels=[day.isoformat() for day in day_list],
        by_outcome=by_outcome,
        by_type=dict(sorted(by_type.items())),
        totals=totals,
        outcome_totals=outcome_totals,
        success_rate=success_rate,
        comment_times=comment_times,
        dm_times=dm_times,
        errors=errors,
        risk_score=usage.risk_score if usage else 0,
        risk_updated_at=usage.risk_updated_at if usage else None,
        risk_components=components,
        risk_events_by_day=risk_events_by_day,
        risk_series=risk_series,
        risk_events_recent=recent,
    )
