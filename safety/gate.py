"""The gate every action passes before it runs: allow, defer(until, reason) or deny(reason).

``gate_evaluate`` is called by the dispatcher inside a transaction that holds
the account's row lock, so the counts it reads cannot change under it for
that account: per-account limits are exact under concurrent dispatchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, Verdict
from safety.models import AccountUsage
from safety.policies import SafetyPolicy, default_policy, plural_label

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# How long to wait before asking again about an account that cannot act.
NOT_ACTING_RECHECK = {
    AccountState.PAUSED: timedelta(minutes=1),
    AccountState.SUSPENDED: timedelta(minutes=5),
    AccountState.ERROR: timedelta(minutes=5),
    AccountState.CONNECTING: timedelta(minutes=1),
    AccountState.INACTIVE: timedelta(minutes=15),
}


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    until: datetime | None = None

    @classmethod
    def allow(cls, reason: str = "within every limit") -> Decision:
        return cls(Verdict.ALLOW, reason)

    @classmethod
    def defer(cls, until: datetime, reason: str) -> Decision:
        return cls(Verdict.DEFER, reason, until)

    @classmethod
    def deny(cls, reason: str) -> Decision:
        return cls(Verdict.DENY, reason)


def _started(queryset: QuerySet[Action], since: datetime) -> QuerySet[Action]:
    return queryset.filter(started_at__gte=since)


def _window_check(
    started: QuerySet[Action], *, now: datetime, window: timedelta, limit: int, what: str
) -> Decision | None:
    """Defer when ``limit`` actions already started within ``window``; until the oldest leaves it."""
    in_window = _started(started, now - window)
    count = in_window.count()
    if count < limit:
        return None
    oldest = in_window.aggregate(first=Min("started_at"))["first"] or now
    until = oldest + window + timedelta(seconds=1)
    return Decision.defer(until, f"{what}: {count} of {limit} used in the last {_describe(window)}")


def _describe(window: timedelta) -> str:
    return "hour" if window == HOUR else "24 hours" if window == DAY else f"{int(window.total_seconds())} s"


def gate_evaluate(
    *, action: Action, account: InstagramAccount, now: datetime | None = None, policy: SafetyPolicy | None = None
) -> Decision:
    """Decide whether ``action`` may run now. Never drops work: over-limit work is deferred."""
    now = now or timezone.now()
    policy = policy or default_policy()

    if not account.is_acting:
        wait = NOT_ACTING_RECHECK.get(AccountState(account.state), timedelta(minutes=5))
        return Decision.defer(
            now + wait, f"the account is {account.get_state_display().lower()}; only active or warming-up accounts act"
        )

    usage = AccountUsage.objects.filter(account_id=account.pk, regain_at__gt=now).first()
    if usage is not None and usage.regain_at is not None:
        return Decision.defer(usage.regain_at, f"no calls until Instagram's limit resets: {usage.regain_reason}")

    everyone = Action.all_workspaces.all()
    mine = everyone.filter(account_id=account.pk)
    mine_of_type = mine.filter(action_type=action.action_type)

    checks: list[tuple[QuerySet[Action], timedelta, int, str]] = [
        (everyone, HOUR, policy.global_per_hour, "platform hourly limit"),
        (everyone, DAY, policy.global_per_day, "platform daily limit"),
        (mine, HOUR, policy.account_per_hour, "account hourly limit"),
        (mine, DAY, policy.account_per_day, "account daily limit"),
    ]
    daily_limit = policy.daily_limit(action.action_type)
    if daily_limit is not None:
        checks.append((mine_of_type, DAY, daily_limit, f"daily limit for {plural_label(action.action_type)}"))
    for queryset, window, limit, what in checks:
        decision = _window_check(queryset, now=now, window=window, limit=limit, what=what)
        if decision is not None:
            return decision

    cooldown = policy.cooldown_seconds(action.action_type)
    if cooldown:
        last = mine_of_type.aggregate(last=Max("started_at"))["last"]
        if last is not None and now < last + timedelta(seconds=cooldown):
            return Decision.defer(
                last + timedelta(seconds=cooldown), f"cooldown: {cooldown} s between {plural_label(action.action_type)}"
            )
    return Decision.allow()
