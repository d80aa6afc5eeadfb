"""The warm-up's part of the safety gate: the phase's action types, daily budget and active hours.

The gate (``safety.gate``, run by ``safety.services.gate_evaluate``) calls ``warmup_gate_check`` for every action,
under the account's row lock, so the day's count is exact. It only reads.

While an account is on warm-up day N:

- an action type its phase does not enable yet waits for the first day that
  enables it, at that day's active hours;
- outside the phase's active hours (local time) an action waits for the next
  window;
- once the day's budget (the target drawn for the local date, across every
  action type) is used, actions wait for the next day's window.

Until the schedule has drawn a new local date's target (just after midnight,
or while the schedule is down), the lowest target that date can end up with
applies, and work over it asks again after ``UNDRAWN_RECHECK``.

Nothing is dropped: each case is a deferral with its reason and time. A
person's own reply from the inbox (``sent_by`` in the payload) is a person's
act, not automation: the warm-up never holds it back, but it is counted in the
day's budget, so the automation does less that day. The other safety limits
(cooldowns, caps, Meta's ceilings, kill switches) still apply to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from accounts.models import InstagramAccount
from actions.models import Action
from warmup.clock import account_zone, local_midnight, local_time
from warmup.models import WarmupDay, WarmupPlan
from warmup.phases import CAPABILITY_LABELS, NOT_COUNTED, WARMUP_DAYS, WarmupPolicy, capability_of, warmup_policy

# How many local days ahead the next window is looked for (7 days plus the longest plausible extension).
LOOKAHEAD_DAYS = 30
# While today's target is not drawn (the schedule runs every 5 minutes), work over the lowest budget asks again soon.
UNDRAWN_RECHECK = timedelta(minutes=10)


@dataclass(frozen=True)
class WarmupHold:
    """The warm-up holds an action back until ``until``; ``reason`` says why, for the ledger."""

    until: datetime
    reason: str


def fallback_target(policy: WarmupPolicy, day: int) -> int:
    """The budget of a local date the schedule has not planned yet (just after midnight, or while it is down).

    The lowest figure that the day's recorded target can end up with,
    whatever the schedule decides (advance, hold or step back), so the
    executed count of a date never exceeds its recorded target.
    """
    days = [day - 1, day] if day > 1 else [day]
    return min(policy.phase_of(candidate).min_actions for candidate in days)


def day_budget(*, account_id: int, day: int, on: date, policy: WarmupPolicy) -> tuple[int, bool]:
    """The action budget of ``on`` for an account on warm-up day ``day``, and whether the schedule has drawn it."""
    row = WarmupDay.all_workspaces.filter(plan__account_id=account_id, local_date=on).values("day", "target").first()
    if row is not None and row["day"] == day:
        return int(row["target"]), True
    return fallback_target(policy, day), False


def day_target(*, account_id: int, day: int, on: date, policy: WarmupPolicy) -> int:
    return day_budget(account_id=account_id, day=day, on=on, policy=policy)[0]


def day_used(*, account_id: int, zone: ZoneInfo, on: date, exclude_action_id: int | None = None) -> int:
    """Actions of the account started on the local date ``on`` that count toward the budget."""
    started = Action.all_workspaces.filter(
        account_id=account_id,
        started_at__gte=local_midnight(zone, on),
        started_at__lt=local_midnight(zone, on + timedelta(days=1)),
    ).exclude(action_type__in=NOT_COUNTED)
    if exclude_action_id is not None:
        started = started.exclude(pk=exclude_action_id)
    return started.count()


def next_window(
    *,
    policy: WarmupPolicy,
    day: int,
    capability: str,
    now: datetime,
    zone: ZoneInfo,
    today_closed: bool,
    extensions_pending: int = 0,
) -> datetime:
    """The first moment from ``now`` at which the account's phase lets ``capability`` act.

    Assumes the account advances one day per local midnight (after the days an
    operator added); if it does not (a health hold), the gate defers again then.
    ``today_closed`` skips the rest of today (its budget is used).
    """
    today = now.astimezone(zone).date()
    for offset in range(LOOKAHEAD_DAYS):
        on = today + timedelta(days=offset)
        projected = day + max(0, offset - extensions_pending)
        if projected > WARMUP_DAYS:  # active by then: no warm-up limits
            return now if offset == 0 else local_midnight(zone, on)
        phase = policy.phase_of(projected)
        if not phase.enables(capability) or (offset == 0 and today_closed):
            continue
        start, end = local_time(zone, on, phase.start_hour), local_time(zone, on, phase.end_hour)
        if offset == 0:
            if now >= end:
                continue
            return max(now, start)
        return start
    return now + timedelta(days=1)


def _when(until: datetime, zone: ZoneInfo, now: datetime) -> str:
    local = until.astimezone(zone)
    days = (local.date() - now.astimezone(zone).date()).days
    on = "today" if days == 0 else "tomorrow" if days == 1 else f"{local:%a %-d %b}"
    return f"waits until {on} {local:%H:%M} local time ({zone.key})"


def warmup_gate_check(*, action: Action, account: InstagramAccount, now: datetime) -> WarmupHold | None:
    """Whether the warm-up holds ``action`` back now; None when it may go on to the other checks."""
    day = account.warmup_day
    if day is None or (action.payload or {}).get("sent_by"):
        return None
    policy = warmup_policy()
    phase = policy.phase_of(day)
    zone = account_zone(account)
    today = now.astimezone(zone).date()
    capability = capability_of(action.action_type)
    extensions = (
        WarmupPlan.all_workspaces.filter(account_id=account.pk).values_list("extensions_pending", flat=True).first()
        or 0
    )
    prefix = f"warm-up day {day} ({phase.name} phase)"

    def window(today_closed: bool = False) -> datetime:
        return next_window(
            policy=policy,
            day=day,
            capability=capability,
            now=now,
            zone=zone,
            today_closed=today_closed,
            extensions_pending=extensions,
        )

    if not phase.enables(capability):
        until = window()
        first = policy.first_day_enabling(capability, after=day)
        label = CAPABILITY_LABELS.get(capability, capability)
        starts = (
            f"day {first} ({policy.phase_of(first).name} phase, {policy.phase_of(first).hours_label})"
            if first is not None
            else "the end of the warm-up"
        )
        return WarmupHold(until, f"{prefix}: {label} start on {starts}; {_when(until, zone, now)}")

    start, end = local_time(zone, today, phase.start_hour), local_time(zone, today, phase.end_hour)
    if not start <= now < end:
        until = window()
        return WarmupHold(until, f"{prefix}: acts only {phase.hours_label} local time; {_when(until, zone, now)}")

    if action.action_type in NOT_COUNTED:
        return None
    target, drawn = day_budget(account_id=account.pk, day=day, on=today, policy=policy)
    used = day_used(account_id=account.pk, zone=zone, on=today, exclude_action_id=action.pk)
    if used >= target:
        if not drawn:
            # The schedule has not drawn today's target yet: ask again soon rather than tomorrow.
            until = min(window(today_closed=True), now + UNDRAWN_RECHECK)
            used_up = (
                f"today's target is not drawn yet (the warm-up schedule has not run since midnight), "
                f"and the lowest possible budget of {target} actions is used"
            )
        else:
            until = window(today_closed=True)
            used_up = f"today's budget of {target} actions is used ({used} of {target})"
        return WarmupHold(until, f"{prefix}: {used_up}; {_when(until, zone, now)}")
    return None
