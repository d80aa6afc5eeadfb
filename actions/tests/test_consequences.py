"""Each error Instagram answers with has its documented consequence for the action and the account.

Driven by the sandbox's fault injection over real HTTP.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from accounts.models import AccountState
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from actions.tests.conftest import Connected, plan_reply, replies_sent
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind
from sandbox.services import sandbox_fault_add

RATE_LIMIT_CODES = [4, 17, 32, 613, 80002]


def fault_on_replies(connected: Connected, **fault: object) -> None:
    sandbox_fault_add(account_username=connected.sandbox_account.username, path_pattern="replies", times=1, **fault)  # type: ignore[arg-type]


def send_one(connected: Connected) -> Action:
    action = plan_reply(connected)
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    connected.account.refresh_from_db()
    return action


@pytest.mark.parametrize("code", RATE_LIMIT_CODES)
def test_rate_limits_keep_the_action_and_stop_the_account_until_it_regains_access(
    connected: Connected, code: int
) -> None:
    fault_on_replies(connected, kind="error", code=code)
    action = send_one(connected)
    assert action.state == ActionState.PLANNED and f"code {code}" in action.last_reason
    usage = AccountUsage.objects.get(account=connected.account)
    assert usage.regain_at is not None and usage.regain_at > timezone.now()
    assert connected.account.state == AccountState.ACTIVE  # slowed down, not suspended


def test_a_revoked_token_moves_the_account_to_error(connected: Connected) -> None:
    fault_on_replies(connected, kind="revoke")
    action = send_one(connected)
    assert connected.account.state == AccountState.ERROR
    assert action.state == ActionState.PLANNED


def test_a_policy_block_suspends_the_account_for_review_with_the_evidence(connected: Connected) -> None:
    fault_on_replies(connected, kind="policy_block")
    action = send_one(connected)
    assert connected.account.state == AccountState.SUSPENDED
    assert "368" in connected.account.state_reason
    assert action.state == ActionState.PLANNED and "reviewed" in action.last_reason


def test_an_invalid_parameter_fails_the_action_and_leaves_the_account_alone(connected: Connected) -> None:
    fault_on_replies(connected, kind="error", code=100)
    action = send_one(connected)
    assert action.state == ActionState.FAILED
    assert action.result["error"]["code"] == 100
    assert connected.account.state == AccountState.ACTIVE


def test_a_server_error_after_sending_is_reconciled_not_resent(connected: Connected) -> None:
    fault_on_replies(connected, kind="status", status=503)
    action = send_one(connected)
    assert action.state == ActionState.UNKNOWN, action.result


def plan_more(connected: Connected, count: int) -> list[Action]:
    return [plan_reply(connected, key=f"more-{number}", message=f"Thanks {number}!") for number in range(count)]


@pytest.mark.parametrize("code", RATE_LIMIT_CODES)
def test_after_a_rate_limit_no_call_until_regain_then_the_account_resumes_slowed(
    connected: Connected, code: int
) -> None:
    fault_on_replies(connected, kind="error", code=code)
    limited = send_one(connected)
    assert limited.state == ActionState.PLANNED
    calls_after_limit = replies_sent(connected)

    # Until the regain time: nothing at all is sent for the account, whatever is due.
    waiting = plan_more(connected, 3)
    Action.all_workspaces.filter(pk=limited.pk).update(due_at=timezone.now())
    dispatch_once(worker_id="w")
    assert replies_sent(connected) == calls_after_limit
    for action in [limited, *waiting]:
        action.refresh_from_db()
        assert action.state == ActionState.PLANNED
        assert "no calls until Instagram's limit resets" in action.last_reason or f"code {code}" in action.last_reason

    # Regain time passed: it sends again, but slowed down by its risk score, and says so.
    AccountUsage.objects.filter(account=connected.account).update(regain_at=timezone.now() - timedelta(seconds=1))
    Action.all_workspaces.filter(account=connected.account, state=ActionState.PLANNED).update(due_at=timezone.now())
    dispatch_once(worker_id="w")
    assert replies_sent(connected) == calls_after_limit + 1
    usage = AccountUsage.objects.get(account=connected.account)
    assert usage.risk_score == 25 and f"code {code}: 1" in usage.risk_components["rate_limits"]["detail"]
    held = Action.all_workspaces.filter(account=connected.account, state=ActionState.PLANNED)
    assert held.count() == 3
    for action in held:
        assert "slowed down by risk 25/100" in action.last_reason and "20 s between actions" in action.last_reason
    event = SafetyEvent.all_workspaces.get(account=connected.account, kind=SafetyEventKind.RATE_LIMIT)
    assert event.code == code and event.action_id_ref == limited.pk


def test_rate_limited_three_times_in_an_hour_the_account_is_suspended(connected: Connected) -> None:
    for number in range(3):
        sandbox_fault_add(
            account_username=connected.sandbox_account.username, path_pattern="replies", kind="error", code=17, times=1
        )
        # Time passes between the attempts: the regain time and the slowdown's spacing are over.
        AccountUsage.objects.filter(account=connected.account).update(regain_at=None)
        Action.all_workspaces.filter(started_at__isnull=False).update(started_at=F("started_at") - timedelta(minutes=5))
        action = plan_reply(connected, key=f"limited-{number}", message=f"Hello {number}")
        Action.all_workspaces.filter(pk=action.pk).update(due_at=timezone.now())
        Action.all_workspaces.exclude(pk=action.pk).filter(state=ActionState.PLANNED).update(
            due_at=timezone.now() + timedelta(hours=1)
        )
        dispatch_once(worker_id="w")
    connected.account.refresh_from_db()
    assert connected.account.state == AccountState.SUSPENDED
    assert "3 rate-limit answers" in connected.account.state_reason
    evidence = SafetyEvent.all_workspaces.get(kind=SafetyEventKind.SUSPENSION)
    assert evidence.data["error"]["code"] == 17 and evidence.data["rate_limits_in_window"] == 3


def test_a_policy_block_leaves_the_evidence_for_the_review(connected: Connected) -> None:
    fault_on_replies(connected, kind="policy_block")
    action = send_one(connected)
    assert connected.account.state == AccountState.SUSPENDED
    evidence = SafetyEvent.all_workspaces.get(kind=SafetyEventKind.SUSPENSION)
    assert evidence.action_id_ref == action.pk
    assert evidence.data["error"]["code"] == 368 and "abusive" in evidence.data["error"]["message"]
    assert evidence.data["action"]["payload"]["message"] == "Thanks!"
    assert evidence.data["risk"]["score"] == 100
    assert f"safety event #{evidence.pk}" in connected.account.state_reason
    # And nothing more goes out for the account while it waits for review.
    calls = replies_sent(connected)
    plan_more(connected, 2)
    dispatch_once(worker_id="w")
    assert replies_sent(connected) == calls
