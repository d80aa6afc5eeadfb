"""Each error Instagram answers with has its documented consequence for the action and the account.

Driven by the sandbox's fault injection over real HTTP.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import AccountState
from actions.dispatcher import dispatch_once
from actions.models import Action, ActionState
from actions.tests.conftest import Connected, plan_reply
from safety.models import AccountUsage
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
