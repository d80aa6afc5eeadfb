"""Reads behind the analytics pages: volumes, outcomes, response times, rules and flows, warm-up, risk.

Each chart is one ``Chart``: its day (or rule, or flow) labels and its series. The page draws it, prints it as
the table under the chart, and the CSV export writes the same rows (``Chart.csv_rows``), so the three can never
disagree. Everything is grouped in SQL over a bounded period (at most ``PERIOD_MAX_DAYS`` days, on indexed
columns: ``finished_at``/``started_at`` of the ledger, each model's own time column), with ``TruncDate`` in the
period's time zone (works on SQLite and PostgreSQL). Only medians and 95th percentiles are finished in Python,
as SQLite has no percentile aggregate.

``account=None`` reads the whole workspace: every query runs on the tenant managers (``objects``), so it only
ever sees the workspace in scope (``accounts.tenancy.workspace_scope``, set by the request's middleware).

Where the numbers come from (docs/features/analytics.md says it for the members):

- volume: succeeded actions of the four automation kinds, on the day they finished;
- outcomes: the same kinds' finished actions by state, and the gate's deferrals (``ActionDecision``) by the
  kind of reason (``safety.services.GATE_REASON_CATEGORIES``, the metric's categories);
- response times: a comment's ``received_at`` → its first succeeded reply or private reply
  (``Action.source_kind="comment"``); a received DM's ``created_at`` → the first sent automated reply that
  answers it (``AutomatedReply.in_reply_to``); per day of reception;
- conversations: ``ConversationEvent`` kinds per day (hand-overs among them);
- rules: comment-rule hits and DM-rule replies, with the share whose reply was sent; flows: runs started and
  their statuses, the completion rate being completed ÷ started;
- warm-up: each ``WarmupDay``'s target against the actions the warm-up counts (started, ``NOT_COUNTED``
  excluded), by the account's local date, as the warm-up's gate counts them;
- risk: the highest ``RiskScoreSample`` of each day, per account.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.models import Action, ActionDecision, ActionState, ActionType, Verdict
from engagement.models import Comment, CommentRuleHit
from messaging import events
from messaging.models import AutomatedReply, ConversationEvent, FlowRun, FlowRunStatus, MessageDirection
from safety.models import RiskScoreSample
from safety.services import GATE_REASON_CATEGORIES
from warmup.clock import account_zone, local_midnight
from warmup.models import WarmupDay
from warmup.phases import NOT_COUNTED

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
PERIOD_PRESETS = (7, 30, 90)
PERIOD_DEFAULT_DAYS = 30
PERIOD_MAX_DAYS = 366
TOP_ROWS = 10
# How the rules and flows are ranked: by use, or by conversion (a flow's completion rate).
RANK_USE = "use"
RANK_CONVERSION = "conversion"
RANK_TEXT = {RANK_USE: "used most", RANK_CONVERSION: "with the best conversion"}

# The automation the product does for a member, in the charts' order.
AUTOMATION_KINDS: tuple[tuple[str, str], ...] = (
    (ActionType.COMMENT_REPLY, "Comment replies"),
    (ActionType.PRIVATE_REPLY, "Private replies"),
    (ActionType.DM, "DMs"),
    (ActionType.PUBLISH, "Published posts"),
)
_AUTOMATION_TYPES = [kind for kind, _ in AUTOMATION_KINDS]
_COMMENT_REPLY_TYPES = (ActionType.COMMENT_REPLY, ActionType.PRIVATE_REPLY)

# The gate's deferral categories, as ``safety.services.gate_reason_category`` names them.
DEFERRAL_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("warmup", "warm-up"),
    ("active_hours", "active hours"),
    ("limit", "account limit"),
    ("meta_limit", "Meta's limit"),
    ("shared_limit", "shared limit"),
    ("rate_limited", "rate limited"),
    ("backoff", "backoff"),
    ("cooldown", "cooldown"),
    ("pattern", "pattern"),
    ("risk", "risk"),
    ("account_state", "account state"),
    ("kill_switch", "kill switch"),
    ("other", "other"),
)

CONVERSATION_EVENT_KINDS: tuple[tuple[str, str], ...] = (
    (events.NEW_CONVERSATION, "New conversations"),
    (events.HAND_OVER, "Hand-overs to a person"),
    (events.FLOW_COMPLETED, "Flows completed"),
    (events.NEW_LEAD, "New leads"),
)

Number = int | float | None


# ---------------------------------------------------------------------------------------------------------------
# The period


@dataclass(frozen=True)
class Period:
    """Whole local days from ``start`` to ``end`` (both included) in ``zone``."""

    start: date
    end: date
    zone: ZoneInfo
    preset: int | None = None  # 7, 30 or 90 for "the last N days"; None for a custom range

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=offset) for offset in range(self.length)]

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def since(self) -> datetime:
        return local_midnight(self.zone, self.start)

    @property
    def until(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return local_midnight(self.zone, self.end + timedelta(days=1))

    @property
    def zone_name(self) -> str:
        return str(self.zone)


def period_last(*, days: int, zone: ZoneInfo, now: datetime | None = None) -> Period:
    """The last ``days`` local days, today included."""
    today = (now or timezone.now()).astimezone(zone).date()
    return Period(start=today - timedelta(days=days - 1), end=today, zone=zone, preset=days)


def _date_param(value: str, what: str, errors: list[str]) -> date | None:
    value = value.strip()
    # YYYY-MM-DD only: ``date.fromisoformat`` also takes 20260131 and week dates (2026-W05-1).
    if not _ISO_DATE.fullmatch(value):
        errors.append(f"The {what} date must be written YYYY-MM-DD.")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"The {what} date must be a real date written YYYY-MM-DD.")
        return None


def period_parse(*, params: Mapping[str, str], zone: ZoneInfo, now: datetime | None = None) -> tuple[Period, list[str]]:
    """The period a page asks for (``days`` = 7/30/90, or ``from`` and ``to``), and what was wrong with it.

    Never raises: any input that is not a valid period gives a message and the default (the last 30 days).
    """
    default = period_last(days=PERIOD_DEFAULT_DAYS, zone=zone, now=now)
    today = default.end
    errors: list[str] = []
    start_text, end_text = params.get("from", "") or "", params.get("to", "") or ""
    if start_text or end_text:
        start = _date_param(start_text, "start", errors)
        end = _date_param(end_text, "end", errors)
        if errors or start is None or end is None:
            return default, errors
        if start > end:
            return default, ["The start date is after the end date."]
        if end > today:
            return default, [f"The end date is after today ({today.isoformat()})."]
        if (end - start).days + 1 > PERIOD_MAX_DAYS:
            return default, [f"A period is at most {PERIOD_MAX_DAYS} days."]
        return Period(start=start, end=end, zone=zone), []
    days_text = (params.get("days", "") or "").strip()
    if not days_text:
        return default, []
    if days_text not in {str(days) for days in PERIOD_PRESETS}:
        return default, ["Choose the last 7, 30 or 90 days, or a start and an end date."]
    return period_last(days=int(days_text), zone=zone, now=now), []


# ---------------------------------------------------------------------------------------------------------------
# Charts


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    data: list[Number]
    drawn: bool = True  # False: in the table and the CSV, not on the chart (e.g. a count beside a rate)


@dataclass
class Chart:
    """One chart's numbers: what the page draws, the table under it and the CSV rows, from one source."""

    name: str  # the CSV's ``chart=<name>``
    title: str
    caption: str
    kind: str  # "bar" (stacked by day), "line" (by day) or "hbar" (by rule or flow)
    label_header: str  # the first column: "Day", "Rule", "Flow"
    labels: list[str]
    series: list[Series]
    unit: str = ""  # "s" for durations, "%" for rates
    empty_text: str = "Nothing in this period."
    notes: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not self.labels or all(not value for item in self.series for value in item.data)

    @property
    def header(self) -> list[str]:
        return [self.label_header, *(item.label for item in self.series)]

    @property
    def rows(self) -> list[list[Any]]:
        return [[label, *(item.data[index] for item in self.series)] for index, label in enumerate(self.labels)]

    def total(self, key: str) -> Number:
        """The sum of one series over the period (counts only)."""
        for item in self.series:
            if item.key == key:
                return sum(value for value in item.data if value is not None)
        raise KeyError(key)

    def chart_data(self) -> dict[str, Any]:
        """What static/js/analytics.js draws (passed with ``json_script``)."""
        return {
            "kind": self.kind,
            "unit": self.unit,
            "labels": self.labels,
            "series": [{"key": item.key, "label": item.label, "data": item.data} for item in self.series if item.drawn],
        }


def _as_date(value: date | datetime | str) -> date:
    # TruncDate comes back as a date on PostgreSQL and, with some SQLite versions, as a string.
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _account_filter(account: InstagramAccount | None, path: str = "account") -> dict[str, Any]:
    return {path: account} if account is not None else {}


def _daily(period: Period, keys: Iterable[str]) -> tuple[dict[str, list[Number]], dict[date, int]]:
    index = {day: position for position, day in enumerate(period.days)}
    return {key: [0] * period.length for key in keys}, index


def _by_day(queryset: QuerySet[Any], *, time_field: str, key: str, period: Period) -> QuerySet[Any]:
    """``(day, key, count)`` rows of ``queryset`` in the period: one grouped query, days in the period's zone."""
    return (
        queryset.filter(**{f"{time_field}__gte": period.since, f"{time_field}__lt": period.until})
        .annotate(day=TruncDate(time_field, tzinfo=period.zone))
        .order_by()
        .values_list("day", key)
        .annotate(n=Count("pk"))
    )


def _add_by_day(
    counts: dict[str, list[Number]], index: dict[date, int], rows: Iterable[Any], *, prefix: str = ""
) -> None:
    """Add ``(day, key, count)`` rows into the day-by-day series (rows outside the days or keys are left out)."""
    for day, key, count in rows:
        position = index.get(_as_date(day))
        series = counts.get(f"{prefix}{key}")
        if position is not None and series is not None:
            series[position] = int(series[position] or 0) + count


def _day_labels(period: Period) -> list[str]:
    return [day.isoformat() for day in period.days]


def analytics_volume(*, period: Period, account: InstagramAccount | None = None) -> Chart:
    """Succeeded actions of each automation kind per day (the day they finished). One query."""
    counts, index = _daily(period, _AUTOMATION_TYPES)
    succeeded = Action.objects.filter(
        **_account_filter(account), state=ActionState.SUCCEEDED, action_type__in=_AUTOMATION_TYPES
    )
    _add_by_day(counts, index, _by_day(succeeded, time_field="finished_at", key="action_type", period=period))
    return Chart(
        name="volume",
        title="Automation per day",
        caption="Comment replies, private replies, DMs and published posts that Instagram accepted, per day.",
        kind="bar",
        label_header="Day",
        labels=_day_labels(period),
        series=[Series(key, label, counts[key]) for key, label in AUTOMATION_KINDS],
        empty_text="Nothing was sent in this period.",
    )


def _reason_category() -> Case:
    """``safety.services.gate_reason_category`` in SQL: a deferral's reason → its category (one query)."""
    whens = [When(reason__startswith=start, then=Value(category)) for start, category in GATE_REASON_CATEGORIES]
    whens += [
        When(reason__contains="window, resets at", then=Value("shared_limit")),
        When(reason__startswith="Meta", reason__contains=" used in the last ", then=Value("meta_limit")),
        When(reason__contains=" used in the last ", then=Value("limit")),
        When(reason__contains=" by risk ", then=Value("risk")),
    ]
    return Case(*whens, default=Value("other"), output_field=CharField())


OUTCOME_STATES: tuple[tuple[str, str], ...] = (
    (ActionState.SUCCEEDED, "Sent"),
    (ActionState.FAILED, "Failed"),
    (ActionState.DENIED, "Denied by the gate"),
    (ActionState.UNKNOWN, "Outcome unknown"),
)


def analytics_outcomes(*, period: Period, account: InstagramAccount | None = None) -> Chart:
    """Per day: the automation kinds' finished actions by outcome, and the gate's deferrals by reason. 2 queries."""
    keys = [state for state, _ in OUTCOME_STATES] + [f"deferred_{key}" for key, _ in DEFERRAL_CATEGORIES]
    counts, index = _daily(period, keys)
    finished = Action.objects.filter(
        **_account_filter(account),
        state__in=[state for state, _ in OUTCOME_STATES],
        action_type__in=_AUTOMATION_TYPES,
    )
    deferred = ActionDecision.objects.filter(
        **_account_filter(account, "action__account"),
        verdict=Verdict.DEFER,
        action__action_type__in=_AUTOMATION_TYPES,
    ).annotate(category=_reason_category())
    _add_by_day(counts, index, _by_day(finished, time_field="finished_at", key="state", period=period))
    _add_by_day(counts, index, _by_day(deferred, time_field="at", key="category", period=period), prefix="deferred_")
    series = [Series(state, label, counts[state]) for state, label in OUTCOME_STATES]
    series += [
        Series(f"deferred_{key}", f"Deferred: {label}", counts[f"deferred_{key}"]) for key, label in DEFERRAL_CATEGORIES
    ]
    return Chart(
        name="outcomes",
        title="Outcomes per day",
        caption=(
            "The automation's actions by how they ended, per day, and each time the safety gate deferred one, "
            "by the kind of reason (an action deferred twice counts twice)."
        ),
        kind="bar",
        label_header="Day",
        labels=_day_labels(period),
        series=series,
        empty_text="No action ended and none was deferred in this period.",
    )


# ---------------------------------------------------------------------------------------------------------------
# Response times


@dataclass(frozen=True)
class ResponseTimes:
    """Seconds from a comment or DM to its reply; ``None`` without any reply."""

    count: int
    median_seconds: float | None
    p95_seconds: float | None

    @property
    def median_text(self) -> str:
        return duration_text(self.median_seconds)

    @property
    def p95_text(self) -> str:
        return duration_text(self.p95_seconds)


def duration_text(seconds: float | None) -> str:
    """``None`` → "—"; 42 → "42 s"; 150 → "2 min 30 s"; 7260 → "2 h 1 min"."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def response_times_of(pairs: Iterable[tuple[datetime | None, datetime | None]]) -> ResponseTimes:
    """The count, median and p95 of (received, replied) pairs, in seconds (a reply before its message is 0 s)."""
    seconds = [max(0.0, (replied - received).total_seconds()) for received, replied in pairs if received and replied]
    return ResponseTimes(
        count=len(seconds),
        median_seconds=statistics.median(seconds) if seconds else None,
        p95_seconds=percentile(seconds, 0.95),
    )


def comment_reply_pairs(
    *, since: datetime, until: datetime | None = None, account: InstagramAccount | None = None
) -> list[tuple[datetime, datetime]]:
    """(received, first succeeded reply) of the comments received in the range that were answered. One query."""
    first_reply = (
        Action.objects.filter(
            source_kind="comment",
            source_id=Cast(OuterRef("pk"), output_field=CharField()),
            action_type__in=_COMMENT_REPLY_TYPES,
            state=ActionState.SUCCEEDED,
            finished_at__isnull=False,
        )
        .order_by("finished_at")
        .values("finished_at")[:1]
    )
    comments = Comment.objects.filter(**_account_filter(account), received_at__gte=since)
    if until is not None:
        comments = comments.filter(received_at__lt=until)
    return list(
        comments.annotate(replied_at=Subquery(first_reply))
        .filter(replied_at__isnull=False)
        .values_list("received_at", "replied_at")
    )


def dm_reply_pairs(
    *, since: datetime, until: datetime | None = None, account: InstagramAccount | None = None
) -> list[tuple[datetime, datetime]]:
    """(received, first sent automated reply) of the DMs received in the range that were answered. One query."""
    replies = AutomatedReply.objects.filter(
        **_account_filter(account, "message__account"),
        message__action__state=ActionState.SUCCEEDED,
        message__action__finished_at__isnull=False,
        in_reply_to__direction=MessageDirection.INBOUND,
        in_reply_to__created_at__gte=since,
    )
    if until is not None:
        replies = replies.filter(in_reply_to__created_at__lt=until)
    return list(
        replies.values("in_reply_to")
        .annotate(replied_at=Min("message__action__finished_at"))
        .values_list("in_reply_to__created_at", "replied_at")
    )


def comment_response_times(*, account: InstagramAccount, since: datetime) -> ResponseTimes:
    """Comments received since ``since`` that were answered: received → first successful reply (one query)."""
    return response_times_of(comment_reply_pairs(account=account, since=since))


def dm_response_times(*, account: InstagramAccount, since: datetime) -> ResponseTimes:
    """DMs received since ``since`` that an automated reply answered: received → first sent reply (one query)."""
    return response_times_of(dm_reply_pairs(account=account, since=since))


@dataclass
class ResponseTimeChart:
    chart: Chart
    comments: ResponseTimes  # over the whole period
    dms: ResponseTimes


def analytics_response_times(*, period: Period, account: InstagramAccount | None = None) -> ResponseTimeChart:
    """Median and p95 seconds to a reply, per day of reception, for comments and DMs. 2 queries."""
    comment_pairs = comment_reply_pairs(since=period.since, until=period.until, account=account)
    dm_pairs = dm_reply_pairs(since=period.since, until=period.until, account=account)
    series: list[Series] = []
    for key, label, pairs in (("comment", "Comment", comment_pairs), ("dm", "DM", dm_pairs)):
        by_day: dict[date, list[tuple[datetime, datetime]]] = defaultdict(list)
        for received, replied in pairs:
            by_day[received.astimezone(period.zone).date()].append((received, replied))
        times = [response_times_of(by_day.get(day, [])) for day in period.days]
        series += [
            Series(f"{key}_median", f"{label} → reply, median (s)", [_seconds(t.median_seconds) for t in times]),
            Series(f"{key}_p95", f"{label} → reply, p95 (s)", [_seconds(t.p95_seconds) for t in times]),
            Series(f"{key}_count", f"{label}s answered", [t.count for t in times], drawn=False),
        ]
    chart = Chart(
        name="response_times",
        title="Time to reply",
        caption=(
            "Seconds from a comment or a DM to the first reply Instagram accepted, median and 95th percentile, "
            "by the day the comment or DM came in."
        ),
        kind="line",
        label_header="Day",
        labels=_day_labels(period),
        series=series,
        unit="s",
        empty_text="No comment or DM was answered in this period.",
    )
    return ResponseTimeChart(chart=chart, comments=response_times_of(comment_pairs), dms=response_times_of(dm_pairs))


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# ---------------------------------------------------------------------------------------------------------------
# Conversations, rules and flows


def analytics_conversations(*, period: Period, account: InstagramAccount | None = None) -> Chart:
    """New conversations, hand-overs to a person, flows completed and new leads per day. One query."""
    keys = [kind for kind, _ in CONVERSATION_EVENT_KINDS]
    counts, index = _daily(period, keys)
    events = ConversationEvent.objects.filter(**_account_filter(account, "conversation__account"), kind__in=keys)
    _add_by_day(counts, index, _by_day(events, time_field="created_at", key="kind", period=period))
    return Chart(
        name="conversations",
        title="Conversations and hand-overs",
        caption="New DM conversations, conversations handed to a person, flows completed and new leads, per day.",
        kind="bar",
        label_header="Day",
        labels=_day_labels(period),
        series=[Series(kind, label, counts[kind]) for kind, label in CONVERSATION_EVENT_KINDS],
        empty_text="No conversation event in this period.",
    )


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _ranked(rows: list[Any], *, rank: str, uses: int, done: int, name: int) -> list[Any]:
    """The top rows by use (most first), or by conversion (highest rate first, then the most used)."""
    if rank == RANK_CONVERSION:
        rows.sort(key=lambda row: (-(_rate(row[done], row[uses]) or 0.0), -row[uses], row[name]))
    else:
        rows.sort(key=lambda row: (-row[uses], row[name]))
    return rows[:TOP_ROWS]


def analytics_rules(*, period: Period, account: InstagramAccount | None = None, rank: str = RANK_USE) -> Chart:
    """Comment rules and DM rules by use (or conversion) in the period, with the share whose reply was sent."""
    replied = Action.objects.filter(
        source_kind="comment",
        source_id=Cast(OuterRef("comment_id"), output_field=CharField()),
        state=ActionState.SUCCEEDED,
    )
    comment_rules = (
        CommentRuleHit.objects.filter(
            **_account_filter(account, "rule__account"),
            created_at__gte=period.since,
            created_at__lt=period.until,
        )
        .annotate(answered=Exists(replied))
        .order_by()
        .values_list("rule_id", "rule__name")
        .annotate(uses=Count("pk"), sent=Count("pk", filter=Q(answered=True)))
    )
    dm_rules = (
        AutomatedReply.objects.filter(
            **_account_filter(account, "message__account"),
            rule__isnull=False,
            message__created_at__gte=period.since,
            message__created_at__lt=period.until,
        )
        .order_by()
        .values_list("rule_id", "rule__name")
        .annotate(uses=Count("pk"), sent=Count("pk", filter=Q(message__action__state=ActionState.SUCCEEDED)))
    )
    rows = [(f"Comment rule: {name}", uses, sent) for _, name, uses, sent in comment_rules]
    rows += [(f"DM rule: {name}", uses, sent) for _, name, uses, sent in dm_rules]
    rows = _ranked(rows, rank=rank, uses=1, done=2, name=0)
    return Chart(
        name="rules",
        title="Top rules",
        caption=(
            f"The {TOP_ROWS} comment and DM rules {RANK_TEXT[rank]} in the period: times a rule matched, how many "
            "of those replies Instagram accepted, and that share (the rule's conversion)."
        ),
        kind="hbar",
        label_header="Rule",
        labels=[name for name, _, _ in rows],
        series=[
            Series("uses", "Matched", [uses for _, uses, _ in rows]),
            Series("sent", "Reply sent", [sent for _, _, sent in rows]),
            Series("conversion", "Conversion (%)", [_rate(sent, uses) for _, uses, sent in rows], drawn=False),
        ],
        empty_text="No rule matched in this period.",
    )


def analytics_flows(*, period: Period, account: InstagramAccount | None = None, rank: str = RANK_USE) -> Chart:
    """Flows by runs started in the period (or completion rate), with their statuses. One query."""
    statuses = Count("pk", filter=Q(status__in=[FlowRunStatus.RUNNING, FlowRunStatus.WAITING, FlowRunStatus.DELAYED]))
    rows = list(
        FlowRun.objects.filter(
            **_account_filter(account, "conversation__account"),
            started_at__gte=period.since,
            started_at__lt=period.until,
        )
        .order_by()
        .values_list("version__flow_id", "version__flow__name")
        .annotate(
            started=Count("pk"),
            completed=Count("pk", filter=Q(status=FlowRunStatus.COMPLETED)),
            handed_over=Count("pk", filter=Q(status=FlowRunStatus.HANDED_OVER)),
            stopped=Count("pk", filter=Q(status=FlowRunStatus.STOPPED)),
            active=statuses,
        )
    )
    rows = _ranked(rows, rank=rank, uses=2, done=3, name=1)
    return Chart(
        name="flows",
        title="Top flows",
        caption=(
            f"The {TOP_ROWS} flows {RANK_TEXT[rank]} in the period, how their runs stand, and the completion "
            "rate (runs completed ÷ runs started)."
        ),
        kind="hbar",
        label_header="Flow",
        labels=[row[1] for row in rows],
        series=[
            Series("started", "Started", [row[2] for row in rows]),
            Series("completed", "Completed", [row[3] for row in rows]),
            Series("handed_over", "Handed to a person", [row[4] for row in rows], drawn=False),
            Series("stopped", "Stopped", [row[5] for row in rows], drawn=False),
            Series("active", "Still running", [row[6] for row in rows], drawn=False),
            Series("completion", "Completion rate (%)", [_rate(row[3], row[2]) for row in rows], drawn=False),
        ],
        empty_text="No flow started in this period.",
    )


# ---------------------------------------------------------------------------------------------------------------
# Warm-up and risk


def analytics_warmup(*, period: Period, account: InstagramAccount) -> Chart:
    """Each warm-up day's target against the actions the warm-up counted that day (its own zone). 2 queries."""
    zone = account_zone(account)
    plan_days = list(
        WarmupDay.objects.filter(plan__account=account, local_date__gte=period.start, local_date__lte=period.end)
        .order_by("local_date")
        .values_list("local_date", "day", "target")
    )
    used: dict[date, int] = {}
    if plan_days:
        first, last = plan_days[0][0], plan_days[-1][0]
        used = {
            _as_date(day): count
            for day, count in Action.objects.filter(
                account=account,
                started_at__gte=local_midnight(zone, first),
                started_at__lt=local_midnight(zone, last + timedelta(days=1)),
            )
            .exclude(action_type__in=NOT_COUNTED)
            .annotate(day=TruncDate("started_at", tzinfo=zone))
            .order_by()
            .values_list("day")
            .annotate(n=Count("pk"))
        }
    return Chart(
        name="warmup",
        title="Warm-up: actions against each day's target",
        caption=(
            "For each day of the warm-up in the period: the day's target and the actions the warm-up counted "
            f"(started that day in the account's time zone, {zone})."
        ),
        kind="bar_grouped",
        label_header="Day",
        labels=[f"{local_date.isoformat()} (day {day})" for local_date, day, _ in plan_days],
        series=[
            Series("target", "Target", [target for _, _, target in plan_days]),
            Series("actual", "Actions", [used.get(local_date, 0) for local_date, _, _ in plan_days]),
        ],
        empty_text="The account was not warming up in this period.",
    )


def analytics_risk(*, period: Period, account: InstagramAccount | None = None) -> Chart:
    """The highest risk score of each day, per account (from the score's samples). One query (plus the names)."""
    rows = list(
        RiskScoreSample.objects.filter(**_account_filter(account), at__gte=period.since, at__lt=period.until)
        .annotate(day=TruncDate("at", tzinfo=period.zone))
        .order_by()
        .values_list("account_id", "day")
        .annotate(score=Max("score"))
    )
    index = {day: position for position, day in enumerate(period.days)}
    by_account: dict[int, list[Number]] = {}
    for account_id, day, score in rows:
        position = index.get(_as_date(day))
        if position is not None:
            by_account.setdefault(account_id, [None] * period.length)[position] = score
    accounts = _accounts_named(
        [account] if account is not None else InstagramAccount.objects.filter(pk__in=list(by_account))
    )
    series = [
        Series(f"account_{pk}", accounts.get(pk, f"account {pk}"), by_account[pk])
        for pk in sorted(by_account, key=lambda pk: accounts.get(pk, ""))
    ]
    return Chart(
        name="risk",
        title="Risk score",
        caption=(
            "The highest risk score (0–100) of each day, per account, from the samples the safety engine keeps "
            "(when the score changes and at least every hour). An empty cell: no sample that day."
        ),
        kind="line",
        label_header="Day",
        labels=_day_labels(period),
        series=series,
        empty_text="No risk score was sampled in this period.",
    )


def _accounts_named(accounts: Iterable[InstagramAccount]) -> dict[int, str]:
    # The bare username (letters, digits, "." and "_" on Instagram): a column name no spreadsheet takes for a formula.
    return {account.pk: account.username or str(account) for account in accounts}


# ---------------------------------------------------------------------------------------------------------------
# A page's charts


@dataclass
class Analytics:
    period: Period
    account: InstagramAccount | None
    charts: dict[str, Chart]
    comment_times: ResponseTimes
    dm_times: ResponseTimes
    rank: str = RANK_USE

    def chart_data(self) -> dict[str, Any]:
        return {name: chart.chart_data() for name, chart in self.charts.items()}

    @property
    def sent(self) -> int:
        """Actions of the automation kinds that Instagram accepted in the period (the volume chart's total)."""
        chart = self.charts["volume"]
        return sum(int(chart.total(key) or 0) for key, _ in AUTOMATION_KINDS)

    @property
    def handovers(self) -> int:
        return int(self.charts["conversations"].total(events.HAND_OVER) or 0)


CHART_NAMES = ("volume", "outcomes", "response_times", "conversations", "rules", "flows", "warmup", "risk")


def analytics_read(
    *, period: Period, account: InstagramAccount | None = None, only: str | None = None, rank: str = RANK_USE
) -> Analytics:
    """Every chart of the workspace's page (``account=None``) or an account's, or just ``only`` (for a CSV).

    The warm-up chart is an account's only (each account has its own plan and targets).
    """

    def wanted(name: str) -> bool:
        return only is None or only == name

    charts: dict[str, Chart] = {}
    if wanted("volume"):
        charts["volume"] = analytics_volume(period=period, account=account)
    if wanted("outcomes"):
        charts["outcomes"] = analytics_outcomes(period=period, account=account)
    empty_times = ResponseTimes(count=0, median_seconds=None, p95_seconds=None)
    comment_times = dm_times = empty_times
    if wanted("response_times"):
        times = analytics_response_times(period=period, account=account)
        charts["response_times"] = times.chart
        comment_times, dm_times = times.comments, times.dms
    if wanted("conversations"):
        charts["conversations"] = analytics_conversations(period=period, account=account)
    if wanted("rules"):
        charts["rules"] = analytics_rules(period=period, account=account, rank=rank)
    if wanted("flows"):
        charts["flows"] = analytics_flows(period=period, account=account, rank=rank)
    if account is not None and wanted("warmup"):
        charts["warmup"] = analytics_warmup(period=period, account=account)
    if wanted("risk"):
        charts["risk"] = analytics_risk(period=period, account=account)
    return Analytics(
        period=period, account=account, charts=charts, comment_times=comment_times, dm_times=dm_times, rank=rank
    )


def accounts_of_workspace() -> QuerySet[InstagramAccount]:
    """The workspace's accounts, for the links to each account's page."""
    return InstagramAccount.objects.order_by("username", "pk")
