"""The gate while an account warms up: the phase's action types, active hours and day budget, with reasons."""

from __future__ import annotations

from datetime import datetime

import pytest

from accounts.models import AccountState, InstagramAccount
from actions.models import Verdict
from safety.services import gate_evaluate
from warmup.gate import day_target, fallback_target, warmup_gate_check
from warmup.models import WarmupDay
from warmup.phases import warmup_policy
from warmup.services import warmup_extend, warmup_plan_start
from warmup.tests.conftest import TOKYO, Clock, claimed, started, tokyo


@pytest.fixture
def account_on(clock: Clock, make_account, workspace):
    def make(day: int, **fields: object) -> InstagramAccount:
        account = make_account(workspace, state=f"WARMUP_DAY_{day}", time_zone="Asia/Tokyo", **fields)
        warmup_plan_start(account_id=account.pk, cause="test")
        return account

    return make


def hold(account: InstagramAccount, action_type: str, at: datetime, **payload: object):
    return warmup_gate_check(action=claimed(account, action_type, **payload), account=account, now=at)


def test_comment_replies_on_day_1_wait_for_day_3_at_its_active_hours(account_on, clock: Clock) -> None:
    account = account_on(1)
    held = hold(account, "comment_reply", tokyo(4, 9))
    assert held is not None
    assert held.until == tokyo(6, 12)  # day 3 is 6 March; the light phase acts 12:00–14:00
    assert held.reason.startswith(
        "warm-up day 1 (observation phase): comment replies start on day 3 (light phase, 12:00–14:00); "
        "waits until Wed 6 Mar 12:00 local time (Asia/Tokyo)"
    )


@pytest.mark.parametrize(
    ("day", "action_type", "first_day", "hour"),
    [
        (1, "private_reply", 5, 8),
        (2, "hide_comment", 5, 8),
        (3, "unhide_comment", 5, 8),
        (4, "delete_comment", 5, 8),
        (1, "publish", 7, 0),
        (6, "first_comment", 7, 0),
    ],
)
def test_types_not_enabled_yet_wait_for_the_first_day_that_enables_them(
    account_on, day: int, action_type: str, first_day: int, hour: int
) -> None:
    account = account_on(day)
    held = hold(account, action_type, tokyo(4, 9))
    assert held is not None
    assert held.until == tokyo(4 + first_day - day, hour)
    assert f"warm-up day {day} " in held.reason and f"start on day {first_day} " in held.reason


@pytest.mark.parametrize(
    ("day", "action_type", "at", "until", "hours"),
    [
        (1, "dm", tokyo(4, 7, 30), tokyo(4, 8), "08:00–10:00"),  # before the window: today
        (1, "dm", tokyo(4, 10), tokyo(5, 8), "08:00–10:00"),  # the end is excluded: tomorrow (day 2)
        (2, "dm", tokyo(4, 11), tokyo(5, 12), "08:00–10:00"),  # tomorrow is day 3: its own hours
        (3, "comment_reply", tokyo(4, 14, 1), tokyo(5, 12), "12:00–14:00"),
        (5, "private_reply", tokyo(4, 22, 15), tokyo(5, 8), "08:00–22:00"),  # "waking"
        (6, "dm", tokyo(4, 23), tokyo(5, 0), "08:00–22:00"),  # tomorrow is day 7: the full day
    ],
)
def test_outside_the_active_hours_work_waits_for_the_next_window(
    account_on, day: int, action_type: str, at: datetime, until: datetime, hours: str
) -> None:
    held = hold(account_on(day), action_type, at)
    assert held is not None
    assert held.until == until
    assert f"acts only {hours} local time" in held.reason


def test_day_7_acts_all_day_and_every_type(account_on) -> None:
    account = account_on(7)
    for action_type in ("publish", "first_comment", "dm", "comment_reply", "hide_comment"):
        assert hold(account, action_type, tokyo(4, 3)) is None


def _target(account: InstagramAccount, target: int) -> None:
    WarmupDay.all_workspaces.filter(plan__account=account).update(target=target)


def test_the_day_budget_counts_every_type_and_defers_to_the_next_window(account_on) -> None:
    account = account_on(3)
    _target(account, 20)
    for minute in range(12):
        started(account, "dm", tokyo(4, 12, minute))
    for minute in range(7):
        started(account, "comment_reply", tokyo(4, 13, minute))
    started(account, "dm", tokyo(3, 13))  # yesterday (local): another day's budget
    started(account, "sender_action", tokyo(4, 12, 30))  # a typing indicator does not count
    assert hold(account, "comment_reply", tokyo(4, 13, 30)) is None  # 19 of 20
    started(account, "comment_reply", tokyo(4, 13, 20))
    held = hold(account, "dm", tokyo(4, 13, 30))
    assert held is not None
    assert held.until == tokyo(5, 12)  # tomorrow's window (day 4 of the same phase)
    assert "today's budget of 20 actions is used (20 of 20); waits until tomorrow 12:00" in held.reason


def test_local_days_follow_the_accounts_time_zone(account_on) -> None:
    account = account_on(1)
    _target(account, 5)
    for minute in range(5):
        started(account, "dm", tokyo(4, 8, minute))
    # 23:30 UTC on 4 March is 08:30 on 5 March in Tokyo: a new local day, a new budget (not planned yet).
    assert hold(account, "dm", tokyo(5, 8, 30)) is None
    assert hold(account, "dm", tokyo(4, 9, 30)) is not None


def test_a_persons_reply_from_the_inbox_is_never_held_back_but_counts(account_on) -> None:
    account = account_on(1)
    _target(account, 5)
    for minute in range(4):
        started(account, "dm", tokyo(4, 8, minute))
    # Outside the active hours and with the budget nearly used: a person's reply goes on to the other checks.
    assert hold(account, "dm", tokyo(4, 15), sent_by=1) is None
    started(account, "dm", tokyo(4, 9, 10), sent_by=1)
    held = hold(account, "dm", tokyo(4, 9, 30))
    assert held is not None and "(5 of 5)" in held.reason


def test_typing_indicators_are_not_counted_nor_held_by_the_budget(account_on) -> None:
    account = account_on(1)
    _target(account, 5)
    for minute in range(5):
        started(account, "dm", tokyo(4, 8, minute))
    assert hold(account, "sender_action", tokyo(4, 9)) is None
    assert hold(account, "sender_action", tokyo(4, 11)) is not None  # but only in the active hours


def test_an_extension_moves_the_next_window_by_a_day(account_on) -> None:
    account = account_on(2)
    warmup_extend(account_id=account.pk, actor=None, reason="quiet account")
    held = hold(account, "comment_reply", tokyo(4, 9))
    assert held is not None and held.until == tokyo(6, 12)  # day 3 comes a day later: 6 March, not 5


def test_a_date_the_schedule_has_not_planned_gets_the_lowest_possible_target(account_on) -> None:
    policy = warmup_policy()
    account = account_on(3)
    assert fallback_target(policy, 1) == 5
    assert fallback_target(policy, 3) == 5  # the schedule may still step back to day 2
    assert fallback_target(policy, 7) == 40
    today = day_target(account_id=account.pk, day=3, on=tokyo(4, 0).date(), policy=policy)
    assert 20 <= today <= 30
    assert day_target(account_id=account.pk, day=3, on=tokyo(5, 0).date(), policy=policy) == 5


def test_active_accounts_have_no_warm_up_limits(make_account, workspace, clock: Clock) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE, time_zone="Asia/Tokyo")
    clock.set(tokyo(4, 3))
    action = claimed(account, "publish")
    assert warmup_gate_check(action=action, account=account, now=clock.now) is None
    assert gate_evaluate(action=action, account=account).verdict == Verdict.ALLOW


def test_the_gate_defers_with_the_warm_up_reason_and_time(account_on, clock: Clock) -> None:
    account = account_on(2)
    clock.set(tokyo(4, 9))
    decision = gate_evaluate(action=claimed(account, "comment_reply"), account=account)
    assert decision.verdict == Verdict.DEFER
    assert decision.until == tokyo(5, 12)
    assert "warm-up day 2 (observation phase): comment replies start on day 3" in decision.reason
    assert gate_evaluate(action=claimed(account, "dm"), account=account).verdict == Verdict.ALLOW
    assert TOKYO.key in decision.reason
