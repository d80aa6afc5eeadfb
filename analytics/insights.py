"""Meta's insights of an account and its media, read with the documented endpoints and stored.

What is read (https://developers.facebook.com/documentation/instagram-platform/insights and the two
references it links; the documented answers are kept in instagram/tests/fixtures/meta/insights_*.json):

- the profile's ``followers_count`` (``GET /me``), kept as that day's ``followers_count``;
- ``reach`` and ``follower_count`` (new followers) per day: one ``time_series`` call for the whole window;
- the ``total_value``-only metrics (views, accounts engaged, interactions, profile link taps, likes,
  comments, shares, saves) of each day: one call per day, only for the days not stored yet and the last
  ``REVISABLE_DAYS`` (Meta may still revise them: its data comes up to 48 hours late);
- the lifetime figures of the ``RECENT_MEDIA`` latest posts: one call per post.

Insights are a nice-to-have next to the replies, and both draw on the same per-account budget of calls.
So an account is read at most every ``REFRESH_EVERY``, never when it is not connected, never while the
safety engine has it waiting for Instagram's limits to reset or while its usage is above
``USAGE_CEILING_PERCENT``; the reading stops as soon as the usage climbs past it. Every call goes
through ``safety.graph.graph_client``, so its usage headers reach the safety engine like any other.

Insights need the ``instagram_business_manage_insights`` permission (the references' "Requirements").
An account that did not grant it is recorded as such and shown, and is not asked again until it is
connected again (or a member asks, at most every ``MANUAL_REFRESH_EVERY``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import AccountState, InstagramAccount
from accounts.tenancy import workspace_scope
from analytics.models import AccountInsight, InsightsOutcome, InsightsRefresh, MediaInsight
from instaforge.tasks import enqueue_with_commit
from instagram.errors import (
    GraphAPIError,
    InvalidParameterError,
    PermissionDeniedError,
    RateLimitedError,
)
from safety.graph import graph_client
from safety.models import AccountUsage
from safety.risk import USAGE_FROM_PERCENT
from safety.services import rate_limit_observe

logger = logging.getLogger(__name__)

INSIGHTS_PERMISSION = "instagram_business_manage_insights"
# Days read back from yesterday on an account's first reading; later readings fill the gaps and the revisable days.
WINDOW_DAYS = 14
# Meta's figures can come up to 48 hours late: the latest days are read again until they settle.
REVISABLE_DAYS = 3
RECENT_MEDIA = 25
REFRESH_EVERY = timedelta(hours=6)
MANUAL_REFRESH_EVERY = timedelta(minutes=15)
# Above this share of Instagram's budget the usage already counts against the account's risk score
# (safety.risk): the replies need what is left, so insights wait.
USAGE_CEILING_PERCENT = USAGE_FROM_PERCENT
# A usage reading older than this says nothing about now (Meta's budgets are counted over an hour).
USAGE_FRESH_FOR = timedelta(hours=1)
# States in which the account's token is usable and reading costs nothing the account needs.
READABLE_STATES = frozenset(
    {state for state in AccountState.values if state.startswith("WARMUP_")} | {AccountState.ACTIVE, AccountState.PAUSED}
)

TIME_SERIES_METRICS = ("reach", "follower_count")
TOTAL_VALUE_METRICS = (
    "views",
    "accounts_engaged",
    "total_interactions",
    "profile_links_taps",
    "likes",
    "comments",
    "shares",
    "saves",
)
FOLLOWERS_METRIC = "followers_count"  # the profile's field, not an insights metric
MEDIA_METRICS = ("reach", "views", "likes", "comments", "shares", "saved", "total_interactions")
MEDIA_LIST_FIELDS = "id,caption,media_type,media_product_type,permalink,timestamp"

# What the page calls each stored figure, in the order it shows them.
METRIC_LABELS = {
    "followers_count": "Followers",
    "follower_count": "New followers",
    "reach": "Accounts reached",
    "views": "Views",
    "accounts_engaged": "Accounts engaged",
    "total_interactions": "Interactions",
    "profile_links_taps": "Profile link taps",
    "likes": "Likes",
    "comments": "Comments",
    "shares": "Shares",
    "saves": "Saves",
    "saved": "Saves",
}


class _BudgetSpent(Exception):
    """The account's usage climbed past the ceiling while reading: stop, keep what was stored."""


@dataclass
class InsightsRefreshResult:
    """What one reading did: ``skipped`` says why nothing was asked, ``outcome`` how the reading ended."""

    account_id: int
    skipped: str = ""
    outcome: str = ""
    calls: int = 0
    days: int = 0
    media: int = 0
    detail: str = ""
    stored: dict[str, int] = field(default_factory=dict)


# --- when an account may be read ----------------------------------------------------------------


def _usage_block(*, account_id: int, now: datetime) -> str:
    """Why the account's Instagram budget is not insights' to spend now, or ""."""
    usage = AccountUsage.objects.filter(account_id=account_id).first()
    if usage is None:
        return ""
    if usage.regain_at is not None and usage.regain_at > now:
        return f"Instagram's limits: no calls until {usage.regain_at:%H:%M} UTC ({usage.regain_reason})"
    if usage.peak_percent > USAGE_CEILING_PERCENT and now - usage.updated_at < USAGE_FRESH_FOR:
        return f"Instagram usage at {usage.peak_percent} %: the replies keep what is left"
    return ""


def _permission_missing(account: InstagramAccount) -> bool:
    """The token's permissions, when the connection recorded them, lack the insights permission."""
    granted = [scope.strip() for scope in account.token_permissions.split(",") if scope.strip()]
    return bool(granted) and INSIGHTS_PERMISSION not in granted


def _refused_until_reconnected(record: InsightsRefresh | None, account: InstagramAccount) -> bool:
    """Meta refused the permission and the account was not connected again since: asking again would fail again."""
    if record is None or record.outcome != InsightsOutcome.PERMISSION_MISSING or record.attempted_at is None:
        return False
    return account.connected_at is None or account.connected_at <= record.attempted_at


# --- storing --------------------------------------------------------------------------------------


def _end_time_day(raw: Any) -> date | None:
    """The day a ``time_series`` value counts: the one its ``end_time`` (the end of the period) closes."""
    moment = parse_datetime(str(raw or "").replace("+0000", "+00:00"))
    if moment is None:
        return None
    return (moment.astimezone(UTC) - timedelta(days=1)).date()


def _day_bounds(day: date) -> tuple[int, int]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return int(start.timestamp()), int((start + timedelta(days=1)).timestamp())


def _account_rows_store(*, account: InstagramAccount, rows: list[tuple[str, date, int]], now: datetime) -> int:
    """Insert or update (account, metric, day) figures in one statement."""
    if not rows:
        return 0
    AccountInsight.objects.bulk_create(
        [
            AccountInsight(
                workspace_id=account.workspace_id, account=account, metric=metric, day=day, value=value, fetched_at=now
            )
            for metric, day, value in rows
        ],
        update_conflicts=True,
        unique_fields=["account", "metric", "day"],
        update_fields=["value", "fetched_at"],
    )
    return len(rows)


def _number(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw)
    return None


def time_series_rows(items: list[dict[str, Any]]) -> list[tuple[str, date, int]]:
    """(metric, day, value) of a ``time_series`` answer: ``values[{value, end_time}]`` per metric."""
    rows = []
    for item in items:
        for point in item.get("values") or []:
            day, value = _end_time_day(point.get("end_time")), _number(point.get("value"))
            if day is not None and value is not None:
                rows.append((str(item.get("name", "")), day, value))
    return rows


def total_value_rows(items: list[dict[str, Any]], *, day: date) -> list[tuple[str, date, int]]:
    """(metric, day, value) of a ``metric_type=total_value`` answer for one day: ``total_value.value``."""
    rows = []
    for item in items:
        value = _number((item.get("total_value") or {}).get("value"))
        if value is not None:
            rows.append((str(item.get("name", "")), day, value))
    return rows


def lifetime_values(items: list[dict[str, Any]]) -> dict[str, int]:
    """Metric → value of a media insights answer (``values[{value}]``, period lifetime)."""
    values: dict[str, int] = {}
    for item in items:
        points = item.get("values") or []
        value = _number(points[0].get("value")) if points and isinstance(points[0], dict) else None
        if value is not None:
            values[str(item.get("name", ""))] = value
    return values


# --- reading --------------------------------------------------------------------------------------


class _Reader:
    """One reading of one account: counts its calls and stops when the account's budget is no longer free."""

    def __init__(self, *, account: InstagramAccount, now: datetime) -> None:
        # The one builder of Graph clients: every answer's usage headers reach the safety engine.
        self.account, self.client, self.now = account, graph_client(account=account), now
        self.calls = 0

    def call(self, method: Any, **kwargs: Any) -> Any:
        if self.calls:  # the first call's go-ahead was given by the caller
            blocked = _usage_block(account_id=self.account.pk, now=timezone.now())
            if blocked:
                raise _BudgetSpent(blocked)
        self.calls += 1
        return method(**kwargs)

    def days_to_read(self) -> list[date]:
        """The window's days with no stored figures, and the days Meta may still revise."""
        yesterday = self.now.date() - timedelta(days=1)
        window = [yesterday - timedelta(days=offset) for offset in range(WINDOW_DAYS)]
        stored = set(
            AccountInsight.objects.filter(
                account=self.account, metric=TOTAL_VALUE_METRICS[0], day__gte=window[-1]
            ).values_list("day", flat=True)
        )
        settled_before = yesterday - timedelta(days=REVISABLE_DAYS - 1)
        return [day for day in window if day not in stored or day >= settled_before]

    def account_read(self, result: InsightsRefreshResult) -> None:
        profile = self.call(self.client.me, fields="followers_count")
        followers = _number(profile.get("followers_count"))
        if followers is not None:
            result.stored["followers"] = _account_rows_store(
                account=self.account, rows=[(FOLLOWERS_METRIC, self.now.date(), followers)], now=self.now
            )
        yesterday = self.now.date() - timedelta(days=1)
        since, _ = _day_bounds(yesterday - timedelta(days=WINDOW_DAYS - 1))
        _, until = _day_bounds(yesterday)
        try:
            items = self.call(
                self.client.account_insights, metrics=list(TIME_SERIES_METRICS), period="day", since=since, until=until
            )
        except InvalidParameterError:
            # follower_count is refused for small accounts (under 100 followers) by some versions: reach alone.
            items = self.call(self.client.account_insights, metrics=["reach"], period="day", since=since, until=until)
        result.stored["time_series"] = _account_rows_store(
            account=self.account, rows=time_series_rows(items), now=self.now
        )
        stored = 0
        for day in self.days_to_read():
            start, end = _day_bounds(day)
            items = self.call(
                self.client.account_insights,
                metrics=list(TOTAL_VALUE_METRICS),
                period="day",
                metric_type="total_value",
                since=start,
                until=end,
            )
            stored += _account_rows_store(account=self.account, rows=total_value_rows(items, day=day), now=self.now)
            result.days += 1
        result.stored["daily"] = stored

    def media_read(self, result: InsightsRefreshResult) -> None:
        posts = self.call(
            self.client.media_list, fields=MEDIA_LIST_FIELDS, page_size=RECENT_MEDIA, max_items=RECENT_MEDIA
        )
        for post in posts:
            media_id = str(post.get("id") or "")
            if not media_id:
                continue
            try:
                items = self.call(self.client.media_insights, media_id=media_id, metrics=list(MEDIA_METRICS))
            except InvalidParameterError as error:
                # One post Meta has no insights for (a story gone, an unsupported kind): the others still count.
                logger.info("No insights for post %s of account %s: %s", media_id, self.account.pk, error.message)
                continue
            MediaInsight.objects.update_or_create(
                account=self.account,
                media_id=media_id,
                defaults={
                    "workspace_id": self.account.workspace_id,
                    "media_type": str(post.get("media_type") or "")[:30],
                    "media_product_type": str(post.get("media_product_type") or "")[:30],
                    "caption": str(post.get("caption") or "")[:300],
                    "permalink": str(post.get("permalink") or "")[:500],
                    "posted_at": parse_datetime(str(post.get("timestamp") or "").replace("+0000", "+00:00")),
                    "metrics": lifetime_values(items),
                    "fetched_at": self.now,
                },
            )
            result.media += 1


def _record(
    *, account: InstagramAccount, outcome: str, detail: str, now: datetime, calls: int, succeeded: bool
) -> None:
    defaults: dict[str, Any] = {
        "workspace_id": account.workspace_id,
        "outcome": outcome,
        "detail": detail[:500],
        "attempted_at": now,
        "calls": calls,
    }
    if succeeded:
        defaults["succeeded_at"] = now
    InsightsRefresh.objects.update_or_create(account=account, defaults=defaults)


def insights_refresh(*, account_id: int, now: datetime | None = None, manual: bool = False) -> InsightsRefreshResult:
    """Read and store the account's insights, unless reading now would cost what the account needs.

    Guarantees: no call for an account that is not connected, that Instagram's limits hold, whose usage is
    above ``USAGE_CEILING_PERCENT``, or that lacks the insights permission (recorded, not retried until it is
    connected again; ``manual`` — a member's "Refresh now" — asks once more). Figures are upserted, so a
    second reading updates and never duplicates; what was stored before an error stays. Runs inside the
    account's workspace scope.
    """
    now = now or timezone.now()
    account = InstagramAccount.objects.get(pk=account_id)
    result = InsightsRefreshResult(account_id=account_id)
    if account.state not in READABLE_STATES:
        result.skipped = f"the account is {account.get_state_display().lower()}"
        return result
    record = InsightsRefresh.objects.filter(account=account).first()
    if not manual and _refused_until_reconnected(record, account):
        result.skipped = "the insights permission was refused; waiting for the account to be connected again"
        return result
    blocked = _usage_block(account_id=account.pk, now=now)
    if blocked:
        result.skipped = blocked
        _record(
            account=account, outcome=InsightsOutcome.RATE_LIMITED, detail=blocked, now=now, calls=0, succeeded=False
        )
        return result
    if _permission_missing(account):
        result.skipped = result.detail = (
            "The account did not grant the insights permission (instagram_business_manage_insights): "
            "connect it again and allow insights."
        )
        _record(
            account=account,
            outcome=InsightsOutcome.PERMISSION_MISSING,
            detail=result.detail,
            now=now,
            calls=0,
            succeeded=False,
        )
        return result

    reader = _Reader(account=account, now=now)
    outcome, detail = InsightsOutcome.OK, ""
    try:
        reader.account_read(result)
        reader.media_read(result)
    except _BudgetSpent as stop:
        outcome, detail = InsightsOutcome.RATE_LIMITED, f"Stopped early: {stop}"
    except PermissionDeniedError as error:
        outcome = InsightsOutcome.PERMISSION_MISSING
        detail = f"Instagram refused the insights ({error.message}): connect the account again and allow insights."
    except RateLimitedError as error:
        rate_limit_observe(account_id=account.pk, code=error.code, retry_after_seconds=error.retry_after_seconds)
        outcome, detail = InsightsOutcome.RATE_LIMITED, f"Instagram's limits were reached: {error.message}"
    except GraphAPIError as error:
        outcome, detail = InsightsOutcome.FAILED, f"Instagram answered: {error.message}"
        logger.warning("Insights of account %s failed: %s", account.pk, error.message)
    result.outcome, result.detail, result.calls = str(outcome), detail, reader.calls
    _record(
        account=account,
        outcome=outcome,
        detail=detail,
        now=now,
        calls=reader.calls,
        succeeded=outcome == InsightsOutcome.OK,
    )
    return result


# --- the schedule and "Refresh now" ----------------------------------------------------------------


def insights_accounts_due(*, now: datetime | None = None) -> list[tuple[int, int]]:
    """(workspace id, account id) of the connected accounts not read for ``REFRESH_EVERY``, oldest first.

    Cross-tenant: the schedule walks the accounts of every workspace (``all_workspaces``).
    """
    now = now or timezone.now()
    accounts = list(
        InstagramAccount.all_workspaces.filter(state__in=READABLE_STATES).only(
            "pk", "workspace_id", "connected_at", "state"
        )
    )
    records = {
        record.account_id: record
        for record in InsightsRefresh.all_workspaces.filter(account_id__in=[account.pk for account in accounts])
    }
    due: list[tuple[datetime, int, int]] = []
    for account in accounts:
        record = records.get(account.pk)
        last = record.attempted_at if record is not None else None
        if last is not None and now - last < REFRESH_EVERY:
            continue
        if _refused_until_reconnected(record, account):
            continue
        due.append((last or datetime.min.replace(tzinfo=UTC), account.workspace_id, account.pk))
    return [(workspace_id, account_id) for _, workspace_id, account_id in sorted(due)]


def insights_refresh_due(*, now: datetime | None = None) -> int:
    """Enqueue one reading per due account (each its own task: one slow account does not hold the others)."""
    due = insights_accounts_due(now=now)
    for workspace_id, account_id in due:
        enqueue_with_commit("analytics.tasks.insights_refresh_task", workspace_id, account_id)
    return len(due)


def insights_refresh_run(*, workspace_id: int, account_id: int, manual: bool = False) -> InsightsRefreshResult:
    """``insights_refresh`` inside the account's workspace scope (for the task)."""
    with workspace_scope(workspace_id):
        try:
            return insights_refresh(account_id=account_id, manual=manual)
        except InstagramAccount.DoesNotExist:  # deleted (or erased) since the reading was enqueued
            return InsightsRefreshResult(account_id=account_id, skipped="the account no longer exists")


def insights_refresh_request(*, account: InstagramAccount, now: datetime | None = None) -> datetime | None:
    """A member's "Refresh now": enqueue a reading unless one was asked less than ``MANUAL_REFRESH_EVERY`` ago.

    Returns None when a reading is enqueued, else the time from which another may be asked. The request's
    time is claimed with a conditional update, so two clicks at once enqueue one reading.
    """
    now = now or timezone.now()
    with transaction.atomic():
        record, _ = InsightsRefresh.objects.get_or_create(
            account=account, defaults={"workspace_id": account.workspace_id}
        )
        claimed = (
            InsightsRefresh.objects.filter(pk=record.pk)
            .exclude(requested_at__gt=now - MANUAL_REFRESH_EVERY)
            .update(requested_at=now)
        )
        if not claimed:
            record.refresh_from_db(fields=["requested_at"])
            assert record.requested_at is not None
            return record.requested_at + MANUAL_REFRESH_EVERY
        enqueue_with_commit("analytics.tasks.insights_manual_refresh_task", account.workspace_id, account.pk)
    return None


# --- what the page shows -----------------------------------------------------------------------------


def _cards(
    *, totals: dict[str, int], by_metric: dict[str, dict[date, int]], start: date, end: date
) -> list[tuple[str, int, str]]:
    """(label, figure, what it counts) for the page's summary cards.

    Reach counts unique accounts per day: summing days would count an account reached twice, so its card
    shows the average day. The other figures are counts of events, whose sum over the days is meaningful.
    """
    span = f"{start:%-d %b} – {end:%-d %b}"
    cards: list[tuple[str, int, str]] = []
    if FOLLOWERS_METRIC in totals:
        cards.append((METRIC_LABELS[FOLLOWERS_METRIC], totals[FOLLOWERS_METRIC], "latest count"))
    reach = by_metric.get("reach")
    if reach:
        cards.append(("Accounts reached", round(sum(reach.values()) / len(reach)), f"a day on average, {span}"))
    for metric in ("views", "accounts_engaged", "total_interactions", "profile_links_taps"):
        if metric in totals:
            cards.append((METRIC_LABELS[metric], totals[metric], span))
    return cards


def account_insights_series(*, account: InstagramAccount, start: date, end: date) -> dict[str, Any]:
    """The account's stored insights from ``start`` to ``end`` (inclusive), shaped for the insights partial.

    ``chart`` is JSON-safe (the page passes it through ``json_script``): the days, one list per metric
    (None where nothing is stored) and the labels. ``totals`` sums each daily metric over the range
    (followers: the latest count); ``columns`` and ``rows`` are the same figures as a table, a row per day.
    ``posts`` are the stored posts' figures, newest first. ``refresh`` is
    the account's ``InsightsRefresh`` or None; ``refresh_available_at`` when "Refresh now" may be used again.
    """
    days = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    by_metric: dict[str, dict[date, int]] = {}
    for metric, day, value in AccountInsight.objects.filter(account=account, day__gte=start, day__lte=end).values_list(
        "metric", "day", "value"
    ):
        by_metric.setdefault(metric, {})[day] = value
    ordered = [metric for metric in METRIC_LABELS if metric in by_metric] + sorted(
        metric for metric in by_metric if metric not in METRIC_LABELS
    )
    series = {metric: [by_metric[metric].get(day) for day in days] for metric in ordered}
    totals: dict[str, int] = {
        metric: sum(values.values()) for metric, values in by_metric.items() if metric != FOLLOWERS_METRIC
    }
    followers = by_metric.get(FOLLOWERS_METRIC, {})
    if followers:
        totals[FOLLOWERS_METRIC] = followers[max(followers)]
    posts = list(MediaInsight.objects.filter(account=account).order_by("-posted_at", "-pk")[:RECENT_MEDIA])
    refresh = InsightsRefresh.objects.filter(account=account).first()
    available_at = (
        refresh.requested_at + MANUAL_REFRESH_EVERY
        if refresh is not None and refresh.requested_at is not None
        else None
    )
    return {
        "chart": {
            "days": [day.isoformat() for day in days],
            "series": series,
            "labels": {metric: METRIC_LABELS.get(metric, metric) for metric in series},
        },
        "columns": [METRIC_LABELS.get(metric, metric) for metric in ordered],
        "rows": [(day, [series[metric][index] for metric in ordered]) for index, day in enumerate(days)],
        "totals": totals,
        "cards": _cards(totals=totals, by_metric=by_metric, start=start, end=end),
        "posts": [
            {
                "media_id": post.media_id,
                "caption": post.caption,
                "permalink": post.permalink,
                "posted_at": post.posted_at,
                "kind": (post.media_product_type or post.media_type).replace("_", " ").lower(),
                "reach": post.metrics.get("reach"),
                "views": post.metrics.get("views"),
                "likes": post.metrics.get("likes"),
                "comments": post.metrics.get("comments"),
                "shares": post.metrics.get("shares"),
                "saved": post.metrics.get("saved"),
                "total_interactions": post.metrics.get("total_interactions"),
                "fetched_at": post.fetched_at,
            }
            for post in posts
        ],
        "has_data": bool(by_metric) or bool(posts),
        "refresh": refresh,
        "refresh_available_at": available_at if available_at and available_at > timezone.now() else None,
        "start": start,
        "end": end,
    }
