"""Reads of the warm-up: an account's progress as a 7-day timeline with today's budget."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.models import Action
from warmup.clock import account_zone, local_midnight, warmup_day_of
from warmup.gate import day_target, fallback_target
from warmup.models import EventKind, PlanStatus, WarmupDay, WarmupEvent, WarmupPlan
from warmup.phases import NOT_COUNTED, WARMUP_DAYS, Phase, warmup_policy


@dataclass
class DayAttempt:
    local_date: date
    target: int
    used: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.target)) if self.target else 100


@dataclass
class TimelineDay:
    day: int
    phase: Phase
    status: str  # "done", "current" or "upcoming"
    attempts: list[DayAttempt] = field(default_factory=list)

    @property
    def latest(self) -> DayAttempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def enabled_label(self) -> str:
        names = {
            "sync": "sync",
            "dm_reply": "DM replies",
            "comment_reply": "comment replies",
            "private_reply": "comment-to-DM",
            "moderation": "moderation",
            "all": "everything, incl. publishing",
        }
        order = ["sync", "dm_reply", "comment_reply", "private_reply", "moderation", "all"]
        return ", ".join(names[name] for name in order if name in self.phase.enabled)


@dataclass
class WarmupProgress:
    account: InstagramAccount
    plan: WarmupPlan | None
    day: int | None  # the day the account is on (or returns to); None when not warming up
    days: list[TimelineDay]
    today: date
    today_target: int | None
    today_used: int
    next_advance: datetime | None  # local
    advance_overdue: bool
    events: list[WarmupEvent]
    held: bool  # paused, suspended, in error or reconnecting: the days wait

    @property
    def today_remaining(self) -> int | None:
        return None if self.today_target is None else max(0, self.today_target - self.today_used)

    @property
    def today_percent(self) -> int:
        if not self.today_target:
            return 0
        return min(100, round(100 * self.today_used / self.today_target))

    @property
    def is_running(self) -> bool:
        return self.plan is not None and self.plan.status == PlanStatus.RUNNING and self.day is not None

    @property
    def holds(self) -> list[WarmupEvent]:
        return [event for event in self.events if event.kind in (EventKind.HOLD, EventKind.STEP_BACK)]


def _used_by_date(*, account: InstagramAccount, since: date, until: date) -> Counter[date]:
    """Started actions (counted ones) of each local date from ``since`` to ``until``, in one query."""
    zone = account_zone(account)
    starts = (
        Action.objects.filter(
            account_id=account.pk,
            started_at__gte=local_midnight(zone, since),
            started_at__lt=local_midnight(zone, until + timedelta(days=1)),
        )
        .exclude(action_type__in=NOT_COUNTED)
        .values_list("started_at", flat=True)
    )
    return Counter(started.astimezone(zone).date() for started in starts if started is not None)


def warmup_progress(*, account: InstagramAccount, now: datetime | None = None, events: int = 30) -> WarmupProgress:
    """The account's warm-up as the member sees it: 7 days, today's budget, the next advance, holds and why."""
    now = now or timezone.now()
    policy = warmup_policy()
    zone = account_zone(account)
    today = now.astimezone(zone).date()
    plan = WarmupPlan.objects.filter(account_id=account.pk).first()
    day = warmup_day_of(account) if plan is None or plan.status == PlanStatus.RUNNING else None
    rows: list[WarmupDay] = list(WarmupDay.objects.filter(plan=plan).order_by("local_date")) if plan else []
    if plan is not None and plan.status == PlanStatus.RUNNING:
        # Only the current run of the warm-up (a restart begins again).
        rows = [row for row in rows if row.local_date >= plan.started_on]
    since = min(rows[0].local_date, today) if rows else today
    used = _used_by_date(account=account, since=since, until=today)

    days = []
    finished = plan is not None and plan.status != PlanStatus.RUNNING
    for number in range(1, WARMUP_DAYS + 1):
        if finished or (day is not None and number < day):
            status = "done"
        elif number == day:
            status = "current"
        else:
            status = "upcoming"
        attempts = [
            DayAttempt(row.local_date, row.target, used.get(row.local_date, 0)) for row in rows if row.day == number
        ]
        days.append(TimelineDay(number, policy.phase_of(number), status, attempts))

    today_target = None
    today_used = 0
    if day is not None and account.warmup_day is not None:
        today_target = day_target(account_id=account.pk, day=day, on=today, policy=policy)
        today_used = used.get(today, 0)
    elif day is not None:
        today_target = fallback_target(policy, day)

    next_advance = None
    overdue = False
    if plan is not None and plan.status == PlanStatus.RUNNING and day is not None:
        midnight = local_midnight(zone, plan.day_local_date + timedelta(days=1))
        next_advance = midnight.astimezone(zone)
        overdue = midnight <= now
    history = list(WarmupEvent.objects.filter(plan=plan).select_related("actor")[:events]) if plan else []
    held = account.state in (
        AccountState.PAUSED,
        AccountState.SUSPENDED,
        AccountState.ERROR,
        AccountState.CONNECTING,
    )
    return WarmupProgress(
        account=account,
        plan=plan,
        day=day,
        days=days,
        today=today,
        today_target=today_target,
        today_used=today_used,
        next_advance=next_advance,
        advance_overdue=overdue,
        events=history,
        held=held,
    )
