"""Writes of the warm-up: start a plan, advance it at local midnight, and the operators' extend, restart, skip.

Every change of the account's day goes through ``accounts.services.account_transition``
(recorded with who or what caused it); every step of the plan is a
``WarmupEvent`` with its reason. Locks are always taken account first, then
plan, so concurrent schedulers and operators serialise without deadlocks.

Downtime: the warm-up follows the calendar of the account's time zone. When
the schedule did not run at one or more local midnights (a stopped worker, a
restart), the next run walks every missed midnight in order and records each
as its own step with the local date it belongs to: the account lands on the
day the calendar says, checked for health at each midnight. Midnights at which
the account was paused, suspended, in error or reconnecting do not count:
those days are recorded as holds.
"""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.lifecycle import ACTING_STATES
from accounts.models import AccountState, AccountTransition, InstagramAccount, User
from accounts.services import ForbiddenTransition, account_transition
from accounts.zones import zone_valid
from actions.dispatcher.wake import wake_notify
from actions.models import Action, ActionDecision, ActionState, Verdict
from safety.models import AccountUsage
from safety.risk import risk_as_of, risk_slowdown
from safety.selectors import account_safety
from warmup.clock import account_zone, local_date, local_midnight, warmup_day_of
from warmup.models import EventKind, PlanStatus, WarmupDay, WarmupEvent, WarmupPlan
from warmup.phases import WARMUP_DAYS, warmup_policy

logger = logging.getLogger(__name__)

DAY = timedelta(days=1)
SCHEDULE_CAUSE = "warm-up schedule"


class WarmupError(Exception):
    """A warm-up operation that does not apply to the account as it is; the message says why."""


# --- health ---------------------------------------------------------------------------------------------------


def warmup_health_check(*, account: InstagramAccount, at: datetime | None = None) -> tuple[bool, str]:
    """Whether the account was healthy over the 24 hours before ``at``, and why (or why not).

    Signals, all from the ledger and the safety engine: rate limits from
    Instagram (deferrals after a rate-limit answer, or a regain time set from
    the usage headers), the risk assessor's score (recomputed as of ``at``:
    an account the gate would slow down is not ready for a bigger day), and
    actions that failed or were denied.
    """
    at = at or timezone.now()
    since = at - DAY
    rate_limited = ActionDecision.all_workspaces.filter(
        action__account_id=account.pk,
        verdict=Verdict.DEFER,
        at__gte=since,
        at__lt=at,
        reason__startswith="Instagram rate limit",
    ).count()
    # Only the latest regain time is stored; one that ends after ``since`` counts (at worst a day held too many).
    usage = AccountUsage.objects.filter(account_id=account.pk, regain_at__gt=since).first()
    if rate_limited or usage is not None:
        why = f"Instagram rate-limited it {rate_limited} time{'s' if rate_limited != 1 else ''} in the last 24 hours"
        if usage is not None and usage.regain_reason:
            why += f" (last: {usage.regain_reason})"
        return False, why
    slowdown = risk_slowdown(
        usage=risk_as_of(account_id=account.pk, at=at),
        policy=account_safety(workspace_id=account.workspace_id, account_id=account.pk).policy,
    )
    if slowdown is not None:
        return False, f"rising risk: {slowdown.band} at {slowdown.score}/100 ({slowdown.why})"
    failures = Action.all_workspaces.filter(
        account_id=account.pk,
        state__in=[ActionState.FAILED, ActionState.DENIED],
        finished_at__gte=since,
        finished_at__lt=at,
    ).count()
    allowed = warmup_policy().max_failures_per_day
    if failures >= allowed:
        return False, f"{failures} actions failed or were denied in the last 24 hours (the limit is {allowed - 1})"
    return True, f"healthy: no rate limit and {failures} failed actions in the last 24 hours"


# --- plans ----------------------------------------------------------------------------------------------------


def _draw_target(day: int) -> tuple[str, int]:
    phase = warmup_policy().phase_of(day)
    return phase.name, random.randint(phase.min_actions, phase.max_actions)


def _day_record(*, plan: WarmupPlan, on: date, day: int) -> WarmupDay:
    """The plan's row for the local date ``on``: the day the account is on and a freshly drawn target."""
    phase, target = _draw_target(day)
    row, _ = WarmupDay.all_workspaces.update_or_create(
        plan=plan,
        local_date=on,
        defaults={"workspace_id": plan.workspace_id, "day": day, "phase": phase, "target": target},
    )
    return row


def _event(
    *,
    plan: WarmupPlan,
    kind: str,
    on: date,
    from_day: int | None,
    to_day: int | None,
    reason: str,
    actor: User | None = None,
    health_hold: bool = False,
) -> WarmupEvent:
    return WarmupEvent.all_workspaces.create(
        workspace_id=plan.workspace_id,
        plan=plan,
        kind=kind,
        local_date=on,
        from_day=from_day,
        to_day=to_day,
        reason=reason[:500],
        actor=actor,
        health_hold=health_hold,
    )


def _locked(account_id: int) -> tuple[InstagramAccount, WarmupPlan | None]:
    account = InstagramAccount.all_workspaces.select_for_update().get(pk=account_id)
    plan = WarmupPlan.all_workspaces.select_for_update().filter(account_id=account_id).first()
    return account, plan


def _plan_reset(*, account: InstagramAccount, plan: WarmupPlan | None, today: date, now: datetime) -> WarmupPlan:
    if plan is None:
        return WarmupPlan.all_workspaces.create(
            workspace_id=account.workspace_id, account=account, started_on=today, day_local_date=today, started_at=now
        )
    plan.status = PlanStatus.RUNNING
    plan.started_at = now
    plan.started_on = today
    plan.day_local_date = today
    plan.extensions_pending = 0
    plan.finished_at = None
    plan.save()
    return plan


def warmup_plan_start_on_connect(account: InstagramAccount, actor: User | None) -> None:
    """An account finished connecting (``accounts.services.account_connected_subscribe``): start its plan
    when it is on a warm-up day (a reconnected active, paused or suspended account has none to start)."""
    if account.warmup_day is not None:
        warmup_plan_start(account_id=account.pk, cause=f"connected as @{account.username}", actor=actor)


def warmup_plan_start(
    *, account_id: int, cause: str, actor: User | None = None, now: datetime | None = None
) -> WarmupPlan:
    """Give an account that is on a warm-up day its plan, starting today (local). Idempotent.

    A running plan on the account's day is left as it is. A finished plan,
    or one on another day (the account was disconnected and connected again),
    begins again from today. Raises ``WarmupError`` for an account that is not
    warming up.
    """
    now = now or timezone.now()
    with transaction.atomic():
        account, plan = _locked(account_id)
        day = warmup_day_of(account)
        if day is None:
            raise WarmupError(f"{account} is not warming up ({account.get_state_display().lower()}).")
        if plan is not None and plan.status == PlanStatus.RUNNING:
            latest = WarmupDay.all_workspaces.filter(plan=plan).order_by("-local_date").values_list("day", flat=True)
            if latest.first() == day:
                return plan
            # The account came back on another day than its plan says (e.g. disconnected, then connected
            # again at day 1): the plan begins again from here.
            cause = f"{cause} (back on day {day})"
        kind = EventKind.START if plan is None else EventKind.RESTART
        today = local_date(account_zone(account), now)
        plan = _plan_reset(account=account, plan=plan, today=today, now=now)
        _day_record(plan=plan, on=today, day=day)
        _event(plan=plan, kind=kind, on=today, from_day=None, to_day=day, reason=cause, actor=actor)
    return plan


def _state_at(account: InstagramAccount, instant: datetime) -> str:
    """The account's lifecycle state at ``instant``, from its recorded transitions."""
    transitions = AccountTransition.all_workspaces.filter(account_id=account.pk)
    before = transitions.filter(at__lte=instant).order_by("-at", "-id").values_list("to_state", flat=True).first()
    if before is not None:
        return before
    after = transitions.filter(at__gt=instant).order_by("at", "id").values_list("from_state", flat=True).first()
    return after if after is not None else account.state


def _last_step_was_health_hold(plan: WarmupPlan) -> bool:
    last = (
        WarmupEvent.all_workspaces.filter(plan=plan)
        .exclude(kind=EventKind.EXTEND)
        .order_by("-local_date", "-at", "-id")
        .first()
    )
    return last is not None and last.kind == EventKind.HOLD and last.health_hold


def _advance_one(*, account_id: int, now: datetime) -> bool:
    """Take the step of the next local midnight that has passed, if any. Returns whether a step was taken."""
    with transaction.atomic():
        account, plan = _locked(account_id)
        day = account.warmup_day
        if plan is None or plan.status != PlanStatus.RUNNING or day is None:
            return False
        zone = account_zone(account)
        today = local_date(zone, now)
        on = plan.day_local_date + DAY
        if on > today:
            return False
        midnight = local_midnight(zone, on)
        late = " (caught up: the schedule was not running at that midnight)" if on < today else ""
        state_then = _state_at(account, midnight)
        new_day: int | None = day
        health_hold = False
        if state_then not in ACTING_STATES:
            kind = EventKind.HOLD
            label = AccountState(state_then).label.lower() if state_then in AccountState.values else state_then
            reason = f"stays on day {day}: the account was {label} at local midnight, and such days do not count"
        elif plan.extensions_pending:
            kind = EventKind.HOLD
            plan.extensions_pending -= 1
            reason = f"stays on day {day}: an operator extended this day"
        else:
            healthy, why = warmup_health_check(account=account, at=midnight)
            if healthy:
                new_day = day + 1 if day < WARMUP_DAYS else None
                kind = EventKind.ADVANCE if new_day is not None else EventKind.COMPLETE
                target = f"day {new_day}" if new_day is not None else "active: the warm-up is complete"
                reason = f"day {day} → {target}; {why}"
            elif day > 1 and _last_step_was_health_hold(plan):
                kind, new_day, health_hold = EventKind.STEP_BACK, day - 1, True
                reason = f"steps back from day {day} to day {day - 1}: still unhealthy after a day on hold; {why}"
            else:
                kind, health_hold = EventKind.HOLD, True
                reason = f"stays on day {day}: {why}"
        reason += late
        if new_day != day:
            account_transition(
                account_id=account.pk,
                to_state=f"WARMUP_DAY_{new_day}" if new_day is not None else AccountState.ACTIVE,
                cause=SCHEDULE_CAUSE,
                reason=f"local midnight of {on:%a %-d %b %Y}: {reason}"[:500],
            )
        plan.day_local_date = on
        if new_day is None:
            plan.status = PlanStatus.COMPLETED
            plan.finished_at = now
        else:
            _day_record(plan=plan, on=on, day=new_day)
        plan.save()
        _event(plan=plan, kind=kind, on=on, from_day=day, to_day=new_day, reason=reason, health_hold=health_hold)
    return True


def warmup_plan_advance(*, account_id: int, now: datetime | None = None) -> int:
    """Take every local-midnight step of the account's warm-up that is due, in order. Returns how many.

    Safe to run twice or concurrently: each step locks the account and the
    plan and re-reads the plan's date, so a midnight is never taken twice.
    """
    now = now or timezone.now()
    steps = 0
    while steps <= 366 and _advance_one(account_id=account_id, now=now):
        steps += 1
    return steps


def warmup_days_advance(*, now: datetime | None = None) -> dict[str, int]:
    """The schedule's sweep over every workspace: plans for warming-up accounts, and every due step.

    One account's failure does not stop the others.
    """
    now = now or timezone.now()
    counts = {"started": 0, "steps": 0, "failed": 0}
    warming = Q(state__startswith="WARMUP_DAY_")
    for account_id in InstagramAccount.all_workspaces.filter(warming, warmup_plan__isnull=True).values_list(
        "pk", flat=True
    ):
        try:
            warmup_plan_start(account_id=account_id, cause=f"{SCHEDULE_CAUSE}: the account had no plan yet", now=now)
            counts["started"] += 1
        except Exception:
            logger.exception("Starting the warm-up plan of account %s failed", account_id)
            counts["failed"] += 1
    running = WarmupPlan.all_workspaces.filter(status=PlanStatus.RUNNING)
    for account_id in running.filter(account__state__startswith="WARMUP_DAY_").values_list("account_id", flat=True):
        try:
            counts["steps"] += warmup_plan_advance(account_id=account_id, now=now)
        except Exception:
            logger.exception("Advancing the warm-up of account %s failed", account_id)
            counts["failed"] += 1
    # An account made active some other way (a lifecycle transition by hand): its plan is over.
    for plan in running.filter(account__state=AccountState.ACTIVE).select_related("account"):
        with transaction.atomic():
            WarmupPlan.all_workspaces.filter(pk=plan.pk, status=PlanStatus.RUNNING).update(
                status=PlanStatus.COMPLETED, finished_at=now
            )
            _event(
                plan=plan,
                kind=EventKind.COMPLETE,
                on=local_date(account_zone(plan.account), now),
                from_day=None,
                to_day=None,
                reason="the account became active outside the warm-up schedule",
            )
    return counts


# --- operators ------------------------------------------------------------------------------------------------


def _why_required(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise WarmupError("Say why: the reason is recorded in the account's warm-up history.")
    return reason[:500]


def _release_deferred(*, account_id: int, now: datetime) -> int:
    """Actions the warm-up held back become due now (the dispatchers woken); the gate decides about them again."""
    released = Action.all_workspaces.filter(
        account_id=account_id, state=ActionState.PLANNED, due_at__gt=now, last_reason__startswith="warm-up day"
    ).update(due_at=now)
    if released:
        wake_notify(due=now)
    return released


class TimeZoneRefused(Exception):
    """A time zone that is not an IANA name this system knows; the message says so."""


# The deferrals whose time was worked out in the account's zone (warm-up hours and days, safety's active
# hours): after a change of zone they become due at once so that the gate works their time out again.
ZONE_BOUND_REASONS = ("warm-up day", "active hours")


def _starts_with_any(prefixes: tuple[str, ...]) -> Q:
    condition = Q()
    for prefix in prefixes:
        condition |= Q(last_reason__startswith=prefix)
    return condition


def account_time_zone_set(
    *, account_id: int, time_zone: str, actor: User | None, now: datetime | None = None
) -> InstagramAccount:
    """Give the account another IANA time zone, keeping its warm-up and active hours consistent.

    The zone decides the account's local days and hours: when the warm-up steps to its next day (the local
    midnight after the plan's current date, in the new zone from now on), the hours each warm-up phase may act,
    safety's active hours for proactive actions and the days of its figures. The plan's current local date
    and its recorded days stay as they are (they were true in the old zone), so no day is taken twice: moving
    east can bring the next midnight closer (the next schedule run steps), moving west makes the current
    day last longer. Actions held back until a local time of the old zone are made due now: the gate decides
    their time again, in the new zone. Returns the account; the audit trail (django-auditlog follows
    InstagramAccount) records who changed it and from what.
    """
    time_zone = time_zone.strip()
    if not zone_valid(time_zone):
        raise TimeZoneRefused(f"“{time_zone[:80]}” is not a time zone name (choose one such as Europe/Paris).")
    now = now or timezone.now()
    with transaction.atomic():
        account, _plan = _locked(account_id)
        before = account.time_zone
        if before == time_zone:
            return account
        account.time_zone = time_zone
        account.save(update_fields=["time_zone"])
        released = (
            Action.all_workspaces.filter(
                account_id=account.pk,
                state=ActionState.PLANNED,
                due_at__gt=now,
            )
            .filter(_starts_with_any(ZONE_BOUND_REASONS))
            .update(due_at=now)
        )
        if released:
            wake_notify(due=now)
    logger.info(
        "Time zone of account %s changed from %s to %s; %s held-back actions made due",
        account.pk,
        before,
        time_zone,
        released,
    )
    return account


def warmup_extend(*, account_id: int, actor: User | None, reason: str, now: datetime | None = None) -> WarmupPlan:
    """An operator repeats the account's current warm-up day once more: its next local midnight holds."""
    reason = _why_required(reason)
    now = now or timezone.now()
    with transaction.atomic():
        account, plan = _locked(account_id)
        day = warmup_day_of(account)
        if day is None or plan is None or plan.status != PlanStatus.RUNNING:
            raise WarmupError(f"{account} is not warming up: there is no day to extend.")
        plan.extensions_pending += 1
        plan.save(update_fields=["extensions_pending"])
        _event(
            plan=plan,
            kind=EventKind.EXTEND,
            on=local_date(account_zone(account), now),
            from_day=day,
            to_day=day,
            reason=f"day {day} repeated once more ({plan.extensions_pending} pending): {reason}",
            actor=actor,
        )
    return plan


def _acting_or_refuse(account: InstagramAccount, what: str) -> None:
    if account.state not in ACTING_STATES:
        raise ForbiddenTransition(
            f"{account} is {account.get_state_display().lower()}: resume, approve or reconnect it before you {what}."
        )


def warmup_restart(*, account_id: int, actor: User | None, reason: str, now: datetime | None = None) -> WarmupPlan:
    """An operator sends the account back to warm-up day 1, starting today (local)."""
    reason = _why_required(reason)
    now = now or timezone.now()
    with transaction.atomic():
        account, plan = _locked(account_id)
        _acting_or_refuse(account, "restart its warm-up")
        if account.state != AccountState.WARMUP_DAY_1:
            account_transition(
                account_id=account.pk,
                to_state=AccountState.WARMUP_DAY_1,
                actor=actor,
                cause="warm-up restarted by an operator",
                reason=reason,
            )
        from_day = account.warmup_day
        today = local_date(account_zone(account), now)
        plan = _plan_reset(account=account, plan=plan, today=today, now=now)
        _day_record(plan=plan, on=today, day=1)
        _event(plan=plan, kind=EventKind.RESTART, on=today, from_day=from_day, to_day=1, reason=reason, actor=actor)
    return plan


def warmup_skip(*, account_id: int, actor: User | None, reason: str, now: datetime | None = None) -> WarmupPlan:
    """An operator ends the account's warm-up now: it becomes active, and what the warm-up held back is due."""
    reason = _why_required(reason)
    now = now or timezone.now()
    with transaction.atomic():
        account, plan = _locked(account_id)
        day = account.warmup_day
        if day is None:
            _acting_or_refuse(account, "skip its warm-up")
            raise WarmupError(f"{account} is already active: there is no warm-up to skip.")
        account_transition(
            account_id=account.pk,
            to_state=AccountState.ACTIVE,
            actor=actor,
            cause="warm-up skipped by an operator",
            reason=reason,
        )
        today = local_date(account_zone(account), now)
        if plan is None:
            plan = _plan_reset(account=account, plan=None, today=today, now=now)
        plan.status = PlanStatus.SKIPPED
        plan.finished_at = now
        plan.extensions_pending = 0
        plan.save()
        _event(plan=plan, kind=EventKind.SKIP, on=today, from_day=day, to_day=None, reason=reason, actor=actor)
        _release_deferred(account_id=account.pk, now=now)
    return plan
