"""Cooldowns per person (DM recipient, commenter) and exponential backoff after consecutive failures."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionState, Verdict
from actions.services import action_plan
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind
from safety.policies import SafetyPolicy
from safety.services import backoff_failure_record, backoff_success_record, gate_evaluate

POLICY = SafetyPolicy(
    global_per_hour=5000,
    global_per_day=50000,
    account_per_hour=1000,
    account_per_day=10000,
    cooldowns={},
    daily_limits={},
    engine={
        "counterpart_cooldowns.conversation": 20,
        "counterpart_cooldowns.commenter": 60,
        "backoff.base_seconds": 30,
        "backoff.max_seconds": 100,
    },
)


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)


def plan(account, key: str, action_type: str, **payload: object) -> Action:
    action, _ = action_plan(account=account, action_type=action_type, idempotency_key=key, payload=dict(payload))
    return action


def mark_sent(action: Action, seconds_ago: float) -> None:
    Action.all_workspaces.filter(pk=action.pk).update(
        state=ActionState.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_automated_dms_to_one_person_are_spaced_others_are_not(account) -> None:
    mark_sent(plan(account, "a", "dm", recipient_id="r1", message="hi"), seconds_ago=5)
    to_same = plan(account, "b", "dm", recipient_id="r1", message="more")
    decision = gate_evaluate(action=to_same, account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert decision.reason == "cooldown: 20 s between automated DMs to the same person"
    assert decision.until is not None and 14 < (decision.until - timezone.now()).total_seconds() <= 15.1
    to_other = plan(account, "c", "dm", recipient_id="r2", message="hi")
    assert gate_evaluate(action=to_other, account=account, policy=POLICY).verdict == Verdict.ALLOW


def test_one_commenter_waits_across_comment_replies_and_private_replies(account) -> None:
    mark_sent(plan(account, "a", "comment_reply", comment_id="c1", commenter_id="fan", message="hi"), 30)
    private = plan(account, "b", "private_reply", comment_id="c2", commenter_id="fan", message="see DMs")
    decision = gate_evaluate(action=private, account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER and "same commenter" in decision.reason


def test_a_persons_reply_has_no_conversation_cooldown(account) -> None:
    mark_sent(plan(account, "a", "dm", recipient_id="r1", message="hi"), seconds_ago=5)
    human = plan(account, "b", "dm", recipient_id="r1", message="Sure!", sent_by=3)
    assert gate_evaluate(action=human, account=account, policy=POLICY).verdict == Verdict.ALLOW


def test_consecutive_failures_back_off_exponentially_and_a_success_resets(account, settings, tmp_path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "safety:\n  global: {max_actions_per_hour: 10, max_actions_per_day: 10}\n"
        "  per_account: {max_actions_per_hour: 10, max_actions_per_day: 10}\n"
        "  backoff: {base_seconds: 30, max_seconds: 100}\n"
    )
    settings.POLICIES_FILE = policies
    failing = plan(account, "a", "comment_reply", comment_id="c", message="hi")
    assert [backoff_failure_record(action=failing, error="(#2) Service unavailable") for _ in range(4)] == [
        30,
        60,
        100,
        100,
    ]
    usage = AccountUsage.objects.get(account=account)
    assert usage.backoff["comment_reply"]["failures"] == 4
    assert SafetyEvent.all_workspaces.filter(kind=SafetyEventKind.BACKOFF).count() == 4

    next_one = plan(account, "b", "comment_reply", comment_id="d", message="hello")
    decision = gate_evaluate(action=next_one, account=account, policy=replace(POLICY))
    assert decision.verdict == Verdict.DEFER
    assert "backoff: 4 consecutive failures of comment replies" in decision.reason
    assert "Service unavailable" in decision.reason
    dm = plan(account, "c", "dm", recipient_id="r", message="hi")
    assert gate_evaluate(action=dm, account=account, policy=POLICY).verdict == Verdict.ALLOW  # other types go on

    backoff_success_record(action=next_one)  # the gate flagged it as backing off
    assert "comment_reply" not in AccountUsage.objects.get(account=account).backoff
