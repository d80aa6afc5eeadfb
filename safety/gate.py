"""The gate every action passes before it runs: allow, defer(until, reason) or deny(reason).

This module reads and decides; it writes nothing. ``safety.services.gate_evaluate_many``
(what the dispatcher calls, inside the transaction that holds the account's row
lock and marks the action ``sending``) asks it (``gate_assess_many``), then
records the pattern hits and takes the shared counter slots. Checks, in order
(each one in its own module where it is more than a few lines):

1. kill switches (global, workspace, account): defer, recheck soon;
2. the account's state, and Instagram's regain time after a rate limit;
   a call that reaches no one (typing indicator, ice breakers) then only meets Meta's ceilings;
   then the warm-up phase of a new account (``warmup.gate``): types, active hours, day budget;
3. backoff after consecutive failures of the account and type (``safety.cooldowns``);
4. the risk band (``safety.risk``): spacing between actions, and the limits
   below scaled down — the reason says so;
5. Meta's documented limits (``safety.policies.META_CEILINGS``) the action's spec consumes
   (``actions.specs``), whatever the policy, counted in the spec's units (a publishing step
   that creates a carousel of N items takes N + 1 of the 400 media containers);
6. per-account limits (hour, day, burst), per-type limits (hour, day) and
   cooldowns, counted on the ledger (sliding windows) under the account lock:
   no other dispatcher can start an action of this account meanwhile, so the
   counts are exact;
7. per-person cooldowns (``safety.cooldowns``), active hours for proactive
   actions (``safety.timing``), the pattern detector (``safety.patterns``: may
   vary the text, defer, and flags for the risk score);
8. the shared limits (platform, workspace; hour and day), taken from counter
   rows with one conditional update each (``safety.counters``): exact too.

When it allows, the shared counter slots are taken (by ``safety.services``):
the caller's transaction must then mark the action as sending (or roll back).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet

from accounts.models import AccountState, InstagramAccount
from actions.models import NOT_CONTENT_TYPES, Action, ActionType, Verdict
from actions.specs import LimitUse, action_spec_find, limit_consumers
from safety.cooldowns import backoff_check, counterpart_cooldown_check, counterpart_tallies
from safety.counters import CounterSlot, window_start
from safety.decision import Decision
from safety.ledger import LedgerRead, Tally, ledger_tallies
from safety.patterns import PatternHit, patterns_check, patterns_tallies
from safety.policies import META_CEILINGS, MetaCeiling, SafetyPolicy, plural_label
from safety.risk import Slowdown, policy_slowed, risk_slowdown, risk_spacing_check
from safety.selectors import AccountSafety, account_usage, accounts_safety
from safety.timing import active_hours_next_start, is_proactive
from warmup.gate import warmup_gate_check

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# How long to wait before asking again about an account that cannot act.
NOT_ACTING_RECHECK = {
    AccountState.PAUSED: timedelta(minutes=1),
    AccountState.SUSPENDED: timedelta(minutes=5),
    AccountState.ERROR: timedelta(minutes=5),
    AccountState.CONNECTING: timedelta(minutes=1),
}
# How long a scope whose kill switch is on waits before asking again.
KILL_SWITCH_RECHECK = timedelta(minutes=1)


def _describe(window: timedelta) -> str:
    if window == HOUR:
        return "hour"
    if window == DAY:
        return "24 hours"
    return f"{int(window.total_seconds())} s"


@dataclass(frozen=True)
class _LedgerLimit:
    name: str
    window: timedelta
    limit: int
    of_type: bool  # only this action type, or every action of the account
    of_types: frozenset[str] | None = None  # for Meta's limits: the action types consuming it
    audio_video_only: bool = False
    use: LimitUse | None = None  # for Meta's limits: how an action counts (one, or units such as containers)
    asking: int = 1  # what the action asking takes of it


def _meta_limits(action: Action, policy: SafetyPolicy) -> list[_LedgerLimit]:
    """Meta's limits counted on the ledger that ``action`` consumes (its spec's ``limits``), in their units.

    An action that takes none of a limit this time (a publishing step that creates no container) is not held
    by it. A limit the policy names (``policy_plural``) may be lowered by its hourly and daily limits.
    """
    spec = action_spec_find(action.action_type)
    if spec is None or not spec.limits:
        return []
    payload = action.payload or {}
    limits = []
    for ceiling in META_CEILINGS:
        use = spec.limit_use(ceiling.key)
        if use is None or ceiling.per_call_api or not ceiling.applies_to_payload(payload):
            continue
        asking = use.units_of(payload)
        if asking <= 0:
            continue
        types = frozenset(limit_consumers(ceiling.key))
        for name, window, limit in _ceiling_windows(ceiling, policy):
            limits.append(_LedgerLimit(name, window, limit, False, types, ceiling.audio_video_only, use, asking))
    return limits


def _ceiling_windows(ceiling: MetaCeiling, policy: SafetyPolicy) -> list[tuple[str, timedelta, int]]:
    windows = [(ceiling.name, ceiling.window, ceiling.limit)]
    if ceiling.policy_plural:
        label = ceiling.policy_plural.replace("_", " ")
        hourly, daily = policy.hourly_limits.get(ceiling.policy_plural), policy.daily_limits.get(ceiling.policy_plural)
        if hourly is not None:
            windows.append((f"hourly limit for {label}", HOUR, int(hourly)))
        if daily is not None:
            windows.append((f"daily limit for {label}", DAY, int(daily)))
    return windows


def _ledger_limits(action: Action, policy: SafetyPolicy) -> list[_LedgerLimit]:
    """Per-account limits that apply to ``action``, Meta's first (only Meta's for a sender action: not content)."""
    limits = _meta_limits(action, policy)
    if action.action_type in NOT_CONTENT_TYPES:
        return limits
    limits += [
        _LedgerLimit("account hourly limit", HOUR, policy.account_per_hour, False),
        _LedgerLimit("account daily limit", DAY, policy.account_per_day, False),
    ]
    if policy.burst_window_seconds:
        burst = timedelta(seconds=policy.burst_window_seconds)
        limits.append(_LedgerLimit("burst limit", burst, policy.burst_max, False))
    hourly = policy.hourly_limit(action.action_type)
    if hourly is not None:
        limits.append(_LedgerLimit(f"hourly limit for {plural_label(action.action_type)}", HOUR, hourly, True))
    daily = policy.daily_limit(action.action_type)
    if daily is not None:
        limits.append(_LedgerLimit(f"daily limit for {plural_label(action.action_type)}", DAY, daily, True))
    return limits


def _ledger_tally(limit: _LedgerLimit, action: Action, now: datetime) -> Tally:
    """The actions ``limit`` counts: of the type, of Meta's set of types, or every content action of the account."""
    since = now - limit.window
    if limit.of_types is not None:
        units = limit.use.units if limit.use is not None else ""
        return Tally(since=since, types=limit.of_types, audio_video=limit.audio_video_only, units=units)
    if limit.of_type:
        return Tally(since=since, types=frozenset({action.action_type}))
    return Tally(since=since, content_only=True)  # the account's own limits count content, not typing indicators


@dataclass
class _Asking:
    """An action past the checks that read nothing from the ledger, with what it needs counted there."""

    action: Action
    account: InstagramAccount
    policy: SafetyPolicy
    slowdown: Slowdown | None
    limits: list[_LedgerLimit]
    tallies: dict[str, Tally]
    since: datetime  # how far back the tallies look
    cooldown: int  # seconds between two actions of this type (0: none)

    @property
    def not_content(self) -> bool:
        """A typing indicator, ice breakers: only Meta's ceilings apply, no shared counters."""
        return self.action.action_type in NOT_CONTENT_TYPES

    def mine(self) -> QuerySet[Action]:
        """The account's other actions."""
        return Action.all_workspaces.filter(account_id=self.account.pk).exclude(pk=self.action.pk)

    def read(self) -> LedgerRead:
        """What to read on the ledger: the tallies over the account's other actions within the longest window."""
        return LedgerRead(account_id=self.account.pk, action_id=self.action.pk, since=self.since, tallies=self.tallies)


def _asking(
    *,
    action: Action,
    account: InstagramAccount,
    now: datetime,
    policy: SafetyPolicy,
    slowdown: Slowdown | None = None,
    more: tuple[dict[str, Tally], timedelta] = ({}, timedelta(0)),
) -> _Asking:
    """The per-account limits and the cooldown to count, with ``more`` (the later checks' tallies)."""
    limits = _ledger_limits(action, policy)
    tallies: dict[str, Tally] = dict(more[0])
    for index, limit in enumerate(limits):
        tallies[f"limit_{index}"] = _ledger_tally(limit, action, now)
    cooldown = policy.cooldown_seconds(action.action_type) if action.action_type not in NOT_CONTENT_TYPES else 0
    if cooldown:
        tallies["last_of_type"] = Tally(types=frozenset({action.action_type}), latest=True)
    since = now - max([DAY, more[1], *(limit.window for limit in limits)])
    return _Asking(action, account, policy, slowdown, limits, tallies, since, cooldown)


def _ledger_verdict(ask: _Asking, *, counts: dict[str, Any], now: datetime) -> Decision | None:
    """Per-account limits and the cooldown, from the tallies read on the ledger."""
    action = ask.action
    for index, limit in enumerate(ask.limits):
        used = counts[f"limit_{index}"]
        if used + limit.asking <= limit.limit:
            continue
        in_window = ask.mine().filter(ask.tallies[f"limit_{index}"].condition()).order_by("started_at")
        leaving = _leaving(in_window, limit, needed=used + limit.asking - limit.limit)
        until = (leaving + limit.window + timedelta(seconds=1)) if leaving else now + limit.window
        reason = f"{limit.name}: {used} of {limit.limit} used in the last {_describe(limit.window)}"
        if limit.use is not None and limit.use.units:
            reason += f"; this action needs {limit.asking} {limit.use.units}"
        return Decision.defer(until, reason)
    last = counts.get("last_of_type")
    if ask.cooldown and last is not None and now < last + timedelta(seconds=ask.cooldown):
        reason = f"cooldown: {ask.cooldown} s between {plural_label(action.action_type)}"
        return Decision.defer(last + timedelta(seconds=ask.cooldown), reason)
    return None


def _leaving(in_window: QuerySet[Action], limit: _LedgerLimit, *, needed: int) -> datetime | None:
    """The start whose leaving the window frees ``needed`` of the limit; None when no leaving ever does.

    Counted in actions: the ``needed``-th oldest start. In units: the oldest starts until their units add up.
    """
    if not limit.limit or limit.asking > limit.limit:
        return None
    if limit.use is None or not limit.use.units:
        return in_window.values_list("started_at", flat=True)[needed - 1]
    freed = 0
    for started_at, payload, result in in_window.values_list("started_at", "payload", "result"):
        freed += limit.use.units_of(payload, result)
        if freed >= needed:
            return started_at
    return None


def _shared_slots(*, account: InstagramAccount, now: datetime, policy: SafetyPolicy) -> tuple[CounterSlot, ...]:
    """The shared counters to take; when several are full, the deferral names the first (the workspace's)."""
    hour, day = window_start(now, "hour"), window_start(now, "day")
    workspace = f"workspace:{account.workspace_id}"
    slots = []
    # A workspace limit at or above the platform's can never bind first (the workspace's count is
    # part of the platform's): no need to count it. The default policy sets them equal.
    if policy.workspace_per_hour is not None and policy.workspace_per_hour < policy.global_per_hour:
        slots.append(CounterSlot(workspace, "hour", hour, policy.workspace_per_hour, "workspace hourly limit"))
    if policy.workspace_per_day is not None and policy.workspace_per_day < policy.global_per_day:
        slots.append(CounterSlot(workspace, "day", day, policy.workspace_per_day, "workspace daily limit"))
    slots += [
        CounterSlot("global", "hour", hour, policy.global_per_hour, "platform hourly limit"),
        CounterSlot("global", "day", day, policy.global_per_day, "platform daily limit"),
    ]
    return tuple(slots)


def gate_allow_slots(*, action: Action, at: datetime) -> tuple[CounterSlot, ...]:
    """The shared counter slots an allow of ``action`` at ``at`` took (``_shared_slots`` then, with its policy).

    None for a typing indicator or ice breakers, which take no shared slot.
    """
    if action.action_type in NOT_CONTENT_TYPES:
        return ()
    policy = accounts_safety(accounts=[(action.workspace_id, action.account_id)])[0].policy
    return _shared_slots(account=action.account, now=at, policy=policy)


@dataclass(frozen=True)
class Assessment:
    """The gate's reading of one action, before any write.

    ``decision`` is final when set. Otherwise the action is allowed, with
    ``note`` as its reason, once the shared counter ``slots`` are taken (or
    deferred to the first full one's reset). ``hits`` are the pattern
    detector's, to record either way. ``safety.services.gate_evaluate_many``
    does both.
    """

    decision: Decision | None
    slots: tuple[CounterSlot, ...] = ()
    note: str = ""
    hits: tuple[PatternHit, ...] = ()


def gate_assess_many(*, actions: list[Action], now: datetime, policy: SafetyPolicy | None = None) -> list[Assessment]:
    """Assess several actions of different accounts (``action.account`` loaded) at once, in their order.

    The same checks as one at a time, with one read of the ledger (``safety.ledger``) for
    all of them: an action of an account does not count another of the same call, so the
    caller gives at most one action per account (the dispatcher gates a claim in rounds).
    ``policy`` replaces the effective policy of the accounts (for tests); kill switches are
    always read.
    """
    assessments: list[Assessment | None] = []
    asking: list[tuple[int, _Asking]] = []
    scopes = accounts_safety(accounts=[(action.account.workspace_id, action.account.pk) for action in actions])
    for index, (action, safety) in enumerate(zip(actions, scopes, strict=True)):
        started = _gate_start(action=action, account=action.account, now=now, safety=safety, policy=policy)
        assessments.append(Assessment(started) if isinstance(started, Decision) else None)
        if isinstance(started, _Asking):
            asking.append((index, started))
    for (index, ask), counts in zip(asking, ledger_tallies([ask.read() for _, ask in asking]), strict=True):
        finished, hits = _gate_finish(ask, counts=counts, now=now)
        if isinstance(finished, Decision):
            assessments[index] = Assessment(finished, hits=tuple(hits))
        else:
            slots = _shared_slots(account=ask.account, now=now, policy=ask.policy)
            assessments[index] = Assessment(None, slots=slots, note=finished, hits=tuple(hits))
    return [assessment for assessment in assessments if assessment is not None]


def _gate_start(
    *, action: Action, account: InstagramAccount, now: datetime, safety: AccountSafety, policy: SafetyPolicy | None
) -> Decision | _Asking:
    """The checks before the ledger is read: a decision, or what to count there."""
    policy = policy or safety.policy

    if safety.stopped is not None:
        return Decision.defer(now + KILL_SWITCH_RECHECK, safety.stopped + "; the action waits, nothing is sent")

    if account.state == AccountState.INACTIVE:
        # Disconnected: what was planned for it is not sent later, when (if) it is connected again.
        return Decision.deny("the account is disconnected; nothing is sent from it")
    if not account.is_acting:
        wait = NOT_ACTING_RECHECK.get(AccountState(account.state), timedelta(minutes=5))
        return Decision.defer(
            now + wait, f"the account is {account.get_state_display().lower()}; only active or warming-up accounts act"
        )

    usage = account_usage(account=account)  # the dispatcher joins it to the claim's query
    if usage is not None and usage.regain_at is not None and usage.regain_at > now:
        return Decision.defer(usage.regain_at, f"no calls until Instagram's limit resets: {usage.regain_reason}")

    if action.action_type in NOT_CONTENT_TYPES:  # a typing indicator, ice breakers: Meta's ceilings only
        return _asking(action=action, account=account, now=now, policy=policy)

    held = warmup_gate_check(action=action, account=account, now=now)  # the phase's types, hours and day budget
    if held is not None:
        return Decision.defer(held.until, held.reason)

    decision = backoff_check(action=action, usage=usage, now=now)
    if decision is not None:
        return decision

    # Rising risk slows the account down: smaller limits and spacing (safety.risk).
    slowdown = risk_slowdown(usage=usage, policy=policy)
    if slowdown is not None:
        decision = risk_spacing_check(action=action, account=account, now=now, slowdown=slowdown)
        if decision is not None:
            return decision
        policy = policy_slowed(policy, slowdown)

    # One query over the account's ledger for the limits, the per-person cooldowns and the patterns.
    person, person_window = counterpart_tallies(action=action, now=now, policy=policy)
    patterns, patterns_window = patterns_tallies(action=action, now=now, policy=policy)
    more = ({**person, **patterns}, max(person_window, patterns_window))
    return _asking(action=action, account=account, now=now, policy=policy, slowdown=slowdown, more=more)


def _gate_finish(ask: _Asking, *, counts: dict[str, Any], now: datetime) -> tuple[Decision | str, list[PatternHit]]:
    """The checks on the ledger's counts: a decision, or the reason of an allow once the shared slots are taken.

    With the pattern detector's hits, to record.
    """
    action, account, policy, slowdown = ask.action, ask.account, ask.policy, ask.slowdown
    decision = _ledger_verdict(ask, counts=counts, now=now)
    if ask.not_content:
        return decision or Decision.allow(
            "typing indicator: within Meta's Send API limit"
            if action.action_type == ActionType.SENDER_ACTION
            else "sends nothing to anyone: within Meta's limits"
        ), []
    if decision is not None:
        if slowdown is not None and slowdown.limit_percent < 100:
            return replace(decision, reason=f"{decision.reason} — {slowdown.note()}"[:500]), []
        return decision, []

    decision, hits = _checks_after_limits(action=action, account=account, now=now, policy=policy, counts=counts)
    if decision is not None and decision.verdict != Verdict.ALLOW:
        return decision, hits
    note = decision.reason if decision is not None else ""  # e.g. "pattern: … sent a variation instead"
    reason = "within every limit" + (f" ({slowdown.note()})" if slowdown is not None else "")
    return (f"{note}; {reason}" if note else reason), hits


def _checks_after_limits(
    *, action: Action, account: InstagramAccount, now: datetime, policy: SafetyPolicy, counts: dict[str, Any]
) -> tuple[Decision | None, list[PatternHit]]:
    """Per-person cooldowns, active hours, then the pattern detector (which may vary the text); each in its module.

    ``counts`` holds what they read from the ledger (the limits' query). With the pattern detector's hits.
    """
    decision = counterpart_cooldown_check(action=action, policy=policy, counts=counts)
    if decision is not None:
        return decision, []
    if is_proactive(payload=action.payload or {}):
        opening = active_hours_next_start(now=now, time_zone=account.time_zone, policy=policy)
        if opening is not None:
            return Decision.defer(
                opening,
                f"active hours: proactive actions run {policy.setting('active_hours.start_hour')}:00–"
                f"{policy.setting('active_hours.end_hour', 24)}:00 in the account's timezone ({account.time_zone})",
            ), []
    return patterns_check(action=action, account=account, now=now, policy=policy, counts=counts)
