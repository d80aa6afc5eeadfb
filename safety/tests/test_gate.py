"""The gate's verdicts for the skeleton's limits: account state, hourly/daily caps, per-type caps, cooldowns."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionState, Verdict
from safety.policies import SafetyPolicy, policy_parse
from safety.services import gate_evaluate, gate_evaluate_many

POLICY = SafetyPolicy(
    global_per_hour=500,
    global_per_day=5000,
    account_per_hour=3,
    account_per_day=5,
    cooldowns={"comment_reply": 30},
    daily_limits={"comment_replies": 4},
)


def make_action(
    account,
    *,
    started_seconds_ago: float | None = None,
    key: str = "",
    action_type: str = "comment_reply",
    payload: dict | None = None,
    counterpart_id: str = "",
) -> Action:
    now = timezone.now()
    started = now - timedelta(seconds=started_seconds_ago) if started_seconds_ago is not None else None
    return Action.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        action_type=action_type,
        idempotency_key=key or f"k{Action.all_workspaces.count()}",
        payload=payload or {},
        counterpart_id=counterpart_id,
        state=ActionState.SUCCEEDED if started else ActionState.CLAIMED,
        started_at=started,
    )


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)  # the warm-up has its own tests (warmup/tests)


def test_allows_within_every_limit(account) -> None:
    assert gate_evaluate(action=make_action(account), account=account, policy=POLICY).verdict == Verdict.ALLOW


@pytest.mark.parametrize(
    "state",
    [AccountState.PAUSED, AccountState.SUSPENDED, AccountState.ERROR, AccountState.CONNECTING],
)
def test_accounts_that_cannot_act_are_deferred_not_dropped(make_account, workspace, state: str) -> None:
    account = make_account(workspace, state=state)
    decision = gate_evaluate(action=make_action(account), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert decision.until is not None and decision.until > timezone.now()
    assert account.get_state_display().lower() in decision.reason


def test_a_disconnected_account_s_actions_are_denied_not_kept_for_a_reconnection(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.INACTIVE)
    decision = gate_evaluate(action=make_action(account), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DENY
    assert "disconnected" in decision.reason


def test_cooldown_defers_until_it_has_passed(account) -> None:
    previous = make_action(account, started_seconds_ago=10)
    decision = gate_evaluate(action=make_action(account), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert "cooldown" in decision.reason
    assert previous.started_at is not None
    assert decision.until == previous.started_at + timedelta(seconds=30)


def test_hourly_cap_defers_until_the_oldest_leaves_the_window(account) -> None:
    oldest = make_action(account, started_seconds_ago=3000)
    make_action(account, started_seconds_ago=2000)
    make_action(account, started_seconds_ago=1000)
    decision = gate_evaluate(action=make_action(account), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert "account hourly limit: 3 of 3" in decision.reason
    assert oldest.started_at is not None
    assert decision.until == oldest.started_at + timedelta(hours=1, seconds=1)


def test_daily_cap_counts_the_last_24_hours(account) -> None:
    for hours_ago in (2, 3, 4, 5, 6):
        make_action(account, started_seconds_ago=hours_ago * 3600)
    decision = gate_evaluate(action=make_action(account), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert "daily limit" in decision.reason


def test_per_type_daily_limit(account) -> None:
    policy = SafetyPolicy(500, 5000, 50, 500, {}, {"comment_replies": 2})
    make_action(account, started_seconds_ago=7200)
    make_action(account, started_seconds_ago=3 * 7200)
    decision = gate_evaluate(action=make_action(account), account=account, policy=policy)
    assert decision.verdict == Verdict.DEFER
    assert "daily limit for comment replies: 2 of 2" in decision.reason


def test_other_accounts_do_not_count_against_this_one(account, make_account, workspace) -> None:
    other = make_account(workspace)
    for seconds in (100, 200, 300):
        make_action(other, started_seconds_ago=seconds)
    assert gate_evaluate(action=make_action(account), account=account, policy=POLICY).verdict == Verdict.ALLOW


def test_several_accounts_at_once_get_the_verdicts_each_would_get_alone(make_account, workspace) -> None:
    """``gate_evaluate_many`` (the dispatcher's rounds): one ledger query for all, the same verdicts as one by one."""
    at_limit, cooling, fresh, busy, typing, talking = (make_account(workspace) for _ in range(6))
    for hours_ago in (2, 3, 4, 5, 6):
        make_action(at_limit, started_seconds_ago=hours_ago * 3600)
    make_action(cooling, started_seconds_ago=10)
    make_action(busy, started_seconds_ago=600)
    make_action(talking, action_type="dm", counterpart_id="fan", started_seconds_ago=5, payload={"message": "hi"})
    due = [
        make_action(at_limit),
        make_action(cooling),
        make_action(fresh),
        make_action(busy),
        make_action(typing, action_type="sender_action", payload={"recipient_id": "fan"}),
        make_action(talking, action_type="dm", counterpart_id="fan", payload={"message": "hi", "automated": True}),
    ]
    now = timezone.now()
    policy = replace(POLICY, engine={"counterpart_cooldowns.conversation": 20})
    alone = []
    for action in due:
        with transaction.atomic():
            alone.append(gate_evaluate(action=action, account=action.account, now=now, policy=policy))
            transaction.set_rollback(True)  # the counter slots an allow took
    together = gate_evaluate_many(actions=due, now=now, policy=policy)
    assert together == alone
    verdicts = [decision.verdict for decision in together]
    assert verdicts[:4] == [Verdict.DEFER, Verdict.DEFER, Verdict.ALLOW, Verdict.ALLOW]
    assert "account daily limit: 5 of 5" in together[0].reason
    assert "cooldown: 30 s" in together[1].reason
    assert verdicts[4] == Verdict.ALLOW and "typing indicator" in together[4].reason
    assert verdicts[5] == Verdict.DEFER and "automated DMs to the same person" in together[5].reason


def test_the_policy_file_holds_the_documented_defaults() -> None:
    from safety.policies import default_policy

    policy = default_policy()
    assert (policy.global_per_hour, policy.global_per_day, policy.account_per_hour, policy.account_per_day) == (
        500,
        5000,
        50,
        500,
    )
    assert policy.cooldown_seconds("comment_reply") == 30
    assert policy.daily_limit("comment_reply") == 20


def test_a_bad_policy_value_is_refused_with_a_clear_message() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=r"safety\.per_account\.max_actions_per_hour"):
        policy_parse(
            {
                "safety": {
                    "global": {"max_actions_per_hour": 1, "max_actions_per_day": 1},
                    "per_account": {"max_actions_per_hour": -5},
                }
            }
        )
