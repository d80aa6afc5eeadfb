"""Plans, local-midnight advances (with downtime), health holds and step-backs, and the operators' services."""

from __future__ import annotations

import pytest

from accounts.models import AccountState, AccountTransition, InstagramAccount
from accounts.services import ForbiddenTransition, account_pause, account_resume, account_transition
from actions.models import Action, ActionDecision, ActionState, Verdict
from safety.models import SafetyEventKind
from safety.services import rate_limit_observe, safety_event_record
from warmup.models import EventKind, PlanStatus, WarmupDay, WarmupEvent, WarmupPlan
from warmup.services import (
    WarmupError,
    warmup_days_advance,
    warmup_extend,
    warmup_health_check,
    warmup_plan_start,
    warmup_restart,
    warmup_skip,
)
from warmup.tests.conftest import Clock, claimed, tokyo


def state_of(account: InstagramAccount) -> str:
    return InstagramAccount.all_workspaces.get(pk=account.pk).state


def events(account: InstagramAccount) -> list[tuple[str, int | None, int | None]]:
    rows = WarmupEvent.all_workspaces.filter(plan__account=account).order_by("at", "id")
    return [(event.kind, event.from_day, event.to_day) for event in rows]


def test_a_plan_starts_with_day_1_and_a_target_drawn_from_its_range(warming: InstagramAccount) -> None:
    plan = WarmupPlan.all_workspaces.get(account=warming)
    assert plan.status == PlanStatus.RUNNING
    assert plan.started_on == plan.day_local_date == tokyo(4, 0).date()
    day = WarmupDay.all_workspaces.get(plan=plan)
    assert (day.day, day.phase, day.local_date) == (1, "observation", tokyo(4, 0).date())
    assert 5 <= day.target <= 10
    # Starting again changes nothing.
    assert warmup_plan_start(account_id=warming.pk, cause="again") == plan
    assert WarmupEvent.all_workspaces.count() == 1


def test_advances_at_local_midnight_not_before(warming: InstagramAccount, clock: Clock) -> None:
    clock.set(tokyo(4, 23, 59))
    assert warmup_days_advance()["steps"] == 0
    clock.set(tokyo(5, 0, 5))
    assert warmup_days_advance()["steps"] == 1
    assert state_of(warming) == AccountState.WARMUP_DAY_2
    assert warmup_days_advance()["steps"] == 0  # idempotent
    transition = AccountTransition.all_workspaces.filter(account=warming).latest("at")
    assert transition.cause == "warm-up schedule" and "local midnight of Tue 5 Mar 2030" in transition.reason
    row = WarmupDay.all_workspaces.get(plan__account=warming, local_date=tokyo(5, 0).date())
    assert row.day == 2 and 5 <= row.target <= 10


def test_goes_through_day_7_to_active(warming: InstagramAccount, clock: Clock) -> None:
    for day in range(5, 12):
        clock.set(tokyo(day, 0, 1))
        warmup_days_advance()
    assert state_of(warming) == AccountState.ACTIVE
    plan = WarmupPlan.all_workspaces.get(account=warming)
    assert plan.status == PlanStatus.COMPLETED
    assert events(warming)[-1] == (EventKind.COMPLETE, 7, None)
    assert [row.day for row in WarmupDay.all_workspaces.filter(plan=plan)] == [1, 2, 3, 4, 5, 6, 7]


def test_after_downtime_each_missed_midnight_is_its_own_step(warming: InstagramAccount, clock: Clock) -> None:
    clock.set(tokyo(7, 15))  # the schedule did not run on 5, 6 and 7 March
    assert warmup_days_advance()["steps"] == 3
    assert state_of(warming) == AccountState.WARMUP_DAY_4
    advances = WarmupEvent.all_workspaces.filter(plan__account=warming, kind=EventKind.ADVANCE).order_by("local_date")
    assert [(event.local_date.day, event.to_day) for event in advances] == [(5, 2), (6, 3), (7, 4)]
    assert all("caught up" in event.reason for event in advances[:2])
    assert "caught up" not in advances[2].reason  # today's midnight is not late
    rows = WarmupDay.all_workspaces.filter(plan__account=warming).order_by("local_date")
    assert [(row.local_date.day, row.day) for row in rows] == [(4, 1), (5, 2), (6, 3), (7, 4)]


def test_paused_days_do_not_count(warming: InstagramAccount, clock: Clock) -> None:
    clock.set(tokyo(4, 20))
    account_pause(account_id=warming.pk, actor=None)
    clock.set(tokyo(5, 0, 5))
    assert warmup_days_advance()["steps"] == 0  # a paused account is not advanced
    clock.set(tokyo(6, 11))
    account_resume(account_id=warming.pk, actor=None)
    assert state_of(warming) == AccountState.WARMUP_DAY_1
    clock.set(tokyo(7, 0, 5))
    assert warmup_days_advance()["steps"] == 3
    # Paused at the midnights of 5 and 6 March: held; acting at the midnight of 7 March: day 2.
    assert events(warming)[1:] == [(EventKind.HOLD, 1, 1), (EventKind.HOLD, 1, 1), (EventKind.ADVANCE, 1, 2)]
    held = WarmupEvent.all_workspaces.filter(kind=EventKind.HOLD).first()
    assert held is not None and "the account was paused at local midnight" in held.reason


def test_health_check_reads_rate_limits_and_failures(warming: InstagramAccount, clock: Clock) -> None:
    assert warmup_health_check(account=warming)[0] is True
    for index in range(3):
        Action.all_workspaces.create(
            workspace_id=warming.workspace_id,
            account=warming,
            action_type="dm",
            idempotency_key=f"f{index}",
            state=ActionState.FAILED,
            finished_at=clock.now,
        )
    clock.advance(minutes=1)
    healthy, why = warmup_health_check(account=warming)
    assert not healthy and "3 actions failed or were denied in the last 24 hours" in why
    clock.advance(days=1, minutes=1)
    assert warmup_health_check(account=warming)[0] is True  # older than a day
    rate_limit_observe(account_id=warming.pk, code=4, retry_after_seconds=600)
    healthy, why = warmup_health_check(account=warming)
    assert not healthy and "rate-limited" in why and "code 4" in why


def test_health_check_holds_an_account_the_risk_assessor_would_slow_down(
    warming: InstagramAccount, clock: Clock
) -> None:
    # Seven unclear answers from Instagram (no rate limit, no failed action): risk 28/100, in the slow band.
    for _ in range(7):
        safety_event_record(
            account_id=warming.pk, workspace_id=warming.workspace_id, kind=SafetyEventKind.ERROR, code=2, detail="5xx"
        )
    clock.advance(minutes=1)
    healthy, why = warmup_health_check(account=warming)
    assert not healthy
    assert why.startswith("rising risk: slowed down at 28/100") and "7 errors in 24 h" in why
    clock.advance(days=1, minutes=2)
    assert warmup_health_check(account=warming)[0] is True  # the events left the 24-hour window: risk decayed


def _rate_limited_deferral(account: InstagramAccount, clock: Clock) -> None:
    action = claimed(account, "dm")
    ActionDecision.all_workspaces.create(
        workspace_id=account.workspace_id,
        action=action,
        at=clock.now,
        verdict=Verdict.DEFER,
        reason="Instagram rate limit (code 613): Calls to this api have exceeded the rate limit.",
    )


def test_an_unhealthy_account_holds_then_steps_back(make_account, workspace, clock: Clock) -> None:
    account = make_account(workspace, state=AccountState.WARMUP_DAY_3, time_zone="Asia/Tokyo")
    warmup_plan_start(account_id=account.pk, cause="test")
    clock.set(tokyo(4, 13))
    _rate_limited_deferral(account, clock)
    clock.set(tokyo(5, 0, 5))
    warmup_days_advance()
    assert state_of(account) == AccountState.WARMUP_DAY_3
    clock.set(tokyo(5, 13))
    _rate_limited_deferral(account, clock)
    clock.set(tokyo(6, 0, 5))
    warmup_days_advance()
    assert state_of(account) == AccountState.WARMUP_DAY_2
    clock.set(tokyo(7, 0, 5))  # a quiet day: it advances again
    warmup_days_advance()
    assert state_of(account) == AccountState.WARMUP_DAY_3
    assert events(account)[1:] == [
        (EventKind.HOLD, 3, 3),
        (EventKind.STEP_BACK, 3, 2),
        (EventKind.ADVANCE, 2, 3),
    ]
    hold, step_back = WarmupEvent.all_workspaces.filter(health_hold=True).order_by("at")
    assert "stays on day 3: Instagram rate-limited it 1 time in the last 24 hours" in hold.reason
    assert "steps back from day 3 to day 2: still unhealthy after a day on hold" in step_back.reason


def test_extend_repeats_the_current_day(warming: InstagramAccount, clock: Clock, make_user) -> None:
    operator = make_user("ops@instaforge.example")
    warmup_extend(account_id=warming.pk, actor=operator, reason="client asked for a slower start")
    clock.set(tokyo(5, 0, 5))
    warmup_days_advance()
    assert state_of(warming) == AccountState.WARMUP_DAY_1
    clock.set(tokyo(6, 0, 5))
    warmup_days_advance()
    assert state_of(warming) == AccountState.WARMUP_DAY_2
    extend = WarmupEvent.all_workspaces.get(kind=EventKind.EXTEND)
    assert extend.actor == operator and "client asked for a slower start" in extend.reason
    assert "an operator extended this day" in WarmupEvent.all_workspaces.get(kind=EventKind.HOLD).reason


def test_restart_goes_back_to_day_1_today(make_account, workspace, clock: Clock, make_user) -> None:
    operator = make_user("ops@instaforge.example")
    account = make_account(workspace, state=AccountState.WARMUP_DAY_5, time_zone="Asia/Tokyo")
    warmup_plan_start(account_id=account.pk, cause="test")
    clock.set(tokyo(5, 10))
    warmup_restart(account_id=account.pk, actor=operator, reason="bought followers last week")
    assert state_of(account) == AccountState.WARMUP_DAY_1
    plan = WarmupPlan.all_workspaces.get(account=account)
    assert plan.started_on == plan.day_local_date == tokyo(5, 0).date()
    assert WarmupDay.all_workspaces.get(plan=plan, local_date=tokyo(5, 0).date()).day == 1
    transition = AccountTransition.all_workspaces.filter(account=account).latest("at")
    assert (transition.actor, transition.cause) == (operator, "warm-up restarted by an operator")
    # A completed warm-up can be restarted too.
    warmup_skip(account_id=account.pk, actor=operator, reason="checked")
    warmup_restart(account_id=account.pk, actor=operator, reason="again")
    assert WarmupPlan.all_workspaces.get(account=account).status == PlanStatus.RUNNING


def test_skip_makes_the_account_active_and_releases_held_back_work(warming: InstagramAccount, clock: Clock) -> None:
    waiting = claimed(warming, "comment_reply")
    Action.all_workspaces.filter(pk=waiting.pk).update(
        state=ActionState.PLANNED, due_at=tokyo(6, 12), last_reason="warm-up day 1 (observation phase): …"
    )
    other = claimed(warming, "dm")
    Action.all_workspaces.filter(pk=other.pk).update(
        state=ActionState.PLANNED, due_at=tokyo(6, 12), last_reason="cooldown: 120 s between dms"
    )
    warmup_skip(account_id=warming.pk, actor=None, reason="demo account")
    assert state_of(warming) == AccountState.ACTIVE
    assert WarmupPlan.all_workspaces.get(account=warming).status == PlanStatus.SKIPPED
    assert Action.all_workspaces.get(pk=waiting.pk).due_at == clock.now
    assert Action.all_workspaces.get(pk=other.pk).due_at == tokyo(6, 12)
    with pytest.raises(WarmupError, match="already active"):
        warmup_skip(account_id=warming.pk, actor=None, reason="twice")


def test_operator_operations_need_a_reason_and_an_acting_account(warming: InstagramAccount) -> None:
    with pytest.raises(WarmupError, match="Say why"):
        warmup_skip(account_id=warming.pk, actor=None, reason="  ")
    account_pause(account_id=warming.pk, actor=None)
    with pytest.raises(ForbiddenTransition, match="paused"):
        warmup_restart(account_id=warming.pk, actor=None, reason="x")
    with pytest.raises(ForbiddenTransition, match="paused"):
        warmup_skip(account_id=warming.pk, actor=None, reason="x")
    warmup_extend(account_id=warming.pk, actor=None, reason="paused accounts can be extended")
    assert state_of(warming) == AccountState.PAUSED


def test_the_schedule_gives_a_plan_to_warming_accounts_without_one(make_account, workspace, clock: Clock) -> None:
    account = make_account(workspace, state=AccountState.WARMUP_DAY_4)
    active = make_account(workspace, state=AccountState.ACTIVE)
    assert warmup_days_advance()["started"] == 1
    assert WarmupPlan.all_workspaces.get(account=account).days.get().day == 4
    assert not WarmupPlan.all_workspaces.filter(account=active).exists()


def test_an_account_made_active_by_hand_ends_its_plan(warming: InstagramAccount) -> None:
    account_transition(account_id=warming.pk, to_state=AccountState.ACTIVE, cause="test")
    warmup_days_advance()
    assert WarmupPlan.all_workspaces.get(account=warming).status == PlanStatus.COMPLETED


def test_connecting_again_after_a_disconnection_starts_the_plan_again(warming: InstagramAccount, clock: Clock) -> None:
    clock.set(tokyo(5, 0, 5))
    warmup_days_advance()  # day 2
    clock.set(tokyo(5, 12))
    account_transition(account_id=warming.pk, to_state=AccountState.INACTIVE, cause="disconnected")
    clock.set(tokyo(20, 9))
    account_transition(account_id=warming.pk, to_state=AccountState.CONNECTING, cause="Instagram Login started")
    account_transition(account_id=warming.pk, to_state=AccountState.WARMUP_DAY_1, cause="Instagram Login completed")
    plan = warmup_plan_start(account_id=warming.pk, cause="connected as @brand")
    assert plan.started_on == plan.day_local_date == tokyo(20, 0).date()
    assert events(warming)[-1] == (EventKind.RESTART, None, 1)
    assert warmup_days_advance()["steps"] == 0  # no hold recorded for the days it was disconnected
