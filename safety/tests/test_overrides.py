"""Overrides per workspace and account (validated against Meta's ceilings, audited) and kill switches."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionState, Verdict
from safety.gate import KILL_SWITCH_RECHECK
from safety.models import GlobalKillSwitchChange, SafetyChange, SafetyOverride
from safety.policies import (
    META_MEDIA_CONTAINERS_PER_DAY,
    META_PRIVATE_REPLIES_PER_HOUR,
    PolicyValueError,
    Scope,
    policy_parse,
    policy_value_validate,
)
from safety.selectors import account_safety, policy_effective
from safety.services import (
    PolicyOverrideError,
    gate_evaluate,
    global_kill_switch_set,
    kill_switch_set,
    policy_override_set,
)


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)


def claimed(account) -> Action:
    return Action.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        action_type="comment_reply",
        idempotency_key=f"k{Action.all_workspaces.count()}",
        state=ActionState.CLAIMED,
    )


# (key, value, scope, message expected)
REFUSED = [
    ("hourly_limits.private_replies", META_PRIVATE_REPLIES_PER_HOUR + 1, None, r"cannot be above 750: Meta allows"),
    ("daily_limits.media_containers", META_MEDIA_CONTAINERS_PER_DAY + 1, None, r"cannot be above 400: Meta allows"),
    ("per_account.max_actions_per_hour", 360_001, None, r"per_account\.max_actions_per_hour cannot be above 360,000"),
    ("cooldowns.dm", -1, None, r"cooldowns\.dm must be a whole number ≥ 0, not -1"),
    ("daily_limits.dms", "many", None, r"daily_limits\.dms must be a whole number ≥ 0, not 'many'"),
    ("per_account.likes_per_day", 5, None, r"is not a safety policy setting"),
    ("global.max_actions_per_hour", 5, Scope.WORKSPACE, r"cannot be set per workspace"),
    ("per_workspace.max_actions_per_day", 5, Scope.ACCOUNT, r"cannot be set per account"),
]


@pytest.mark.parametrize(("key", "value", "scope", "message"), REFUSED)
def test_a_bad_value_is_refused_naming_the_key_and_the_limit(key, value, scope, message) -> None:
    with pytest.raises(PolicyValueError, match=message):
        policy_value_validate(key, value, scope=scope)


def test_the_policies_file_cannot_raise_a_meta_ceiling_either() -> None:
    document = {
        "safety": {
            "global": {"max_actions_per_hour": 1, "max_actions_per_day": 1},
            "per_account": {"max_actions_per_hour": 1, "max_actions_per_day": 1},
            "hourly_limits": {"private_replies": 1000},
        }
    }
    with pytest.raises(ImproperlyConfigured, match=r"safety\.hourly_limits\.private_replies cannot be above 750"):
        policy_parse(document)


def test_a_burst_faster_than_the_send_api_is_refused(workspace) -> None:
    with pytest.raises(PolicyOverrideError, match=r"burst\.per_account\.max_actions cannot be above 100"):
        policy_override_set(
            workspace_id=workspace.pk,
            values={"burst.per_account.max_actions": 101, "burst.per_account.window_seconds": 1},
            actor=None,
        )


def test_account_overrides_win_over_workspace_overrides_over_the_file(account, workspace, make_user) -> None:
    owner = make_user()
    policy_override_set(workspace_id=workspace.pk, values={"per_account.max_actions_per_hour": 10}, actor=owner)
    policy_override_set(
        workspace_id=workspace.pk, account_id=account.pk, values={"cooldowns.comment_reply": 5}, actor=owner
    )
    policy = account_safety(workspace_id=workspace.pk, account_id=account.pk).policy
    assert policy.account_per_hour == 10  # from the workspace
    assert policy.cooldown_seconds("comment_reply") == 5  # from the account
    assert policy.account_per_day == 500  # from the file
    sources = {row.key: row.source for row in policy_effective(workspace_id=workspace.pk, account_id=account.pk)}
    assert sources["per_account.max_actions_per_hour"] == "workspace"
    assert sources["cooldowns.comment_reply"] == "account"
    assert sources["per_account.max_actions_per_day"] == "policies file"


def test_only_the_keys_that_differ_are_stored_and_every_change_is_audited(workspace, make_user) -> None:
    owner = make_user()
    policy_override_set(
        workspace_id=workspace.pk,
        values={"per_account.max_actions_per_hour": 50, "cooldowns.dm": 300},  # 50 is the file's value
        actor=owner,
    )
    row = SafetyOverride.all_workspaces.get(workspace=workspace, account=None)
    assert row.values == {"cooldowns.dm": 300}
    policy_override_set(workspace_id=workspace.pk, values={"cooldowns.dm": 240}, actor=owner)
    policy_override_set(workspace_id=workspace.pk, values={"cooldowns.dm": None}, actor=owner)
    row.refresh_from_db()
    assert row.values == {}
    trail = [(c.setting, c.old_value, c.new_value, c.actor) for c in SafetyChange.all_workspaces.order_by("id")]
    assert trail == [
        ("cooldowns.dm", "", "300", owner),
        ("cooldowns.dm", "300", "240", owner),
        ("cooldowns.dm", "240", "", owner),
    ]


def test_a_refused_override_changes_nothing(workspace) -> None:
    with pytest.raises(PolicyOverrideError) as refused:
        policy_override_set(
            workspace_id=workspace.pk,
            values={"cooldowns.dm": 10, "hourly_limits.private_replies": 751},
            actor=None,
        )
    assert set(refused.value.errors) == {"hourly_limits.private_replies"}
    assert not SafetyOverride.all_workspaces.exists()
    assert not SafetyChange.all_workspaces.exists()


def test_an_override_applies_at_the_gate(account, workspace) -> None:
    policy_override_set(workspace_id=workspace.pk, values={"daily_limits.comment_replies": 0}, actor=None)
    decision = gate_evaluate(action=claimed(account), account=account)
    assert decision.verdict == Verdict.DEFER
    assert "daily limit for comment replies: 0 of 0" in decision.reason


@pytest.mark.parametrize("scope", ["global", "workspace", "account"])
def test_a_kill_switch_defers_with_its_reason_and_resuming_allows_again(account, workspace, scope) -> None:
    def switch(stopped: bool) -> None:
        if scope == "global":
            global_kill_switch_set(stopped=stopped, reason="incident 42", actor=None)
        else:
            kill_switch_set(
                workspace_id=workspace.pk,
                account_id=account.pk if scope == "account" else None,
                stopped=stopped,
                reason="incident 42",
                actor=None,
            )

    switch(True)
    now = timezone.now()
    decision = gate_evaluate(action=claimed(account), account=account, now=now)
    assert decision.verdict == Verdict.DEFER
    assert decision.reason.startswith("kill switch: sending is stopped")
    assert "incident 42" in decision.reason
    assert decision.until == now + KILL_SWITCH_RECHECK
    switch(False)
    assert gate_evaluate(action=claimed(account), account=account).verdict == Verdict.ALLOW
    if scope == "global":
        assert [c.sending_stopped for c in GlobalKillSwitchChange.objects.order_by("id")] == [True, False]
    else:
        assert [c.setting for c in SafetyChange.all_workspaces.all()] == ["kill switch", "kill switch"]


def test_another_accounts_kill_switch_does_not_stop_this_one(account, make_account, workspace) -> None:
    other = make_account(workspace)
    kill_switch_set(workspace_id=workspace.pk, account_id=other.pk, stopped=True, actor=None)
    assert gate_evaluate(action=claimed(account), account=account).verdict == Verdict.ALLOW
    assert gate_evaluate(action=claimed(other), account=other).verdict == Verdict.DEFER


def test_a_new_accounts_comment_replies_wait_for_their_warm_up_phase(make_account, workspace) -> None:
    new = make_account(workspace, state=AccountState.WARMUP_DAY_1)
    decision = gate_evaluate(action=claimed(new), account=new)
    assert decision.verdict == Verdict.DEFER
    assert "warm-up day 1" in decision.reason and "comment replies start on day 3" in decision.reason
