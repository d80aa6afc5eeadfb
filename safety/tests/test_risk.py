"""The risk score: components from events and usage, slowdown bands, suspension with evidence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionState, Verdict
from actions.services import action_plan
from instagram.errors import PolicyBlockedError, RateLimitedError
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind
from safety.policies import SafetyPolicy
from safety.services import (
    action_error_observe,
    gate_evaluate,
    risk_refresh,
    risks_refresh_stale,
    safety_event_record,
    usage_observe,
)

POLICY = SafetyPolicy(
    global_per_hour=5000,
    global_per_day=50000,
    account_per_hour=10,
    account_per_day=100,
    cooldowns={},
    daily_limits={},
    engine={
        "risk.slow_from_score": 25,
        "risk.slow_limit_percent": 50,
        "risk.slow_spacing_seconds": 20,
        "risk.crawl_from_score": 60,
        "risk.crawl_limit_percent": 20,
        "risk.crawl_spacing_seconds": 120,
    },
)


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)


def plan(account, key: str) -> Action:
    action, _ = action_plan(
        account=account, action_type="comment_reply", idempotency_key=key, payload={"comment_id": key, "message": key}
    )
    return action


def test_the_score_is_the_sum_of_explained_components(account) -> None:
    common = {"account_id": account.pk, "workspace_id": account.workspace_id}
    safety_event_record(kind=SafetyEventKind.RATE_LIMIT, code=4, detail="rate limited", **common)
    safety_event_record(kind=SafetyEventKind.ERROR, code=2, detail="service", outcome="note", **common)
    safety_event_record(kind=SafetyEventKind.ERROR, code=None, detail="no answer", outcome="note", **common)
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 80}})
    usage = AccountUsage.objects.get(account=account)
    components = usage.risk_components
    assert components["rate_limits"] == {"points": 25, "detail": "1 rate limit in 24 h (code 4: 1)"}
    assert components["errors"]["points"] == 8 and "code 2: 1" in components["errors"]["detail"]
    assert components["usage"] == {"points": 24, "detail": "Instagram usage at 80 % of its budget"}
    assert usage.risk_score == 25 + 8 + 24
    # Usage back to normal: its component goes.
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 10}})
    assert "usage" not in AccountUsage.objects.get(account=account).risk_components
    # Old events leave the window.
    SafetyEvent.all_workspaces.update(at=timezone.now() - timedelta(hours=25))
    assert risk_refresh(account_id=account.pk).risk_score == 0


def test_rising_risk_scales_the_limits_down_and_says_why(account) -> None:
    for number in range(5):
        Action.all_workspaces.filter(pk=plan(account, f"s{number}").pk).update(
            state=ActionState.SUCCEEDED, started_at=timezone.now() - timedelta(minutes=10 + number)
        )
    action = plan(account, "next")
    assert gate_evaluate(action=action, account=account, policy=POLICY).verdict == Verdict.ALLOW
    AccountUsage.objects.update_or_create(
        account=account,
        defaults={"risk_score": 30, "risk_components": {"rate_limits": {"points": 30, "detail": "1 rate limit"}}},
    )
    decision = gate_evaluate(action=action, account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert decision.reason.startswith("account hourly limit: 5 of 5 used")
    assert "slowed down by risk 30/100 (1 rate limit +30): limits at 50 %" in decision.reason


def test_a_slowed_account_spaces_its_actions(account) -> None:
    Action.all_workspaces.filter(pk=plan(account, "s").pk).update(
        state=ActionState.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=50)
    )
    AccountUsage.objects.create(account=account, risk_score=70, risk_components={"x": {"points": 70, "detail": "x"}})
    decision = gate_evaluate(action=plan(account, "next"), account=account, policy=POLICY)
    assert decision.verdict == Verdict.DEFER
    assert "crawling by risk 70/100" in decision.reason and "120 s between actions" in decision.reason
    assert decision.until is not None and 60 < (decision.until - timezone.now()).total_seconds() <= 71
    relaxed = replace(POLICY, engine={**POLICY.engine, "risk.crawl_spacing_seconds": 30})
    assert gate_evaluate(action=plan(account, "later"), account=account, policy=relaxed).verdict == Verdict.ALLOW


def test_a_policy_block_suspends_with_the_evidence(account) -> None:
    action = plan(account, "blocked")
    error = PolicyBlockedError(message="(#368) deemed abusive", code=368)
    action_error_observe(action=action, error=error)
    account.refresh_from_db()
    assert account.state == AccountState.SUSPENDED
    evidence = SafetyEvent.all_workspaces.get(kind=SafetyEventKind.SUSPENSION)
    assert evidence.action_id_ref == action.pk and evidence.code == 368
    assert evidence.data["error"]["code"] == 368
    assert evidence.data["action"]["id"] == action.pk
    assert evidence.data["risk"]["components"]["policy_blocks"]["points"] == 100
    assert f"safety event #{evidence.pk}" in account.state_reason
    # A second block while held records no second suspension.
    action_error_observe(action=action, error=error)
    assert SafetyEvent.all_workspaces.filter(kind=SafetyEventKind.SUSPENSION).count() == 1


def test_repeated_rate_limiting_suspends(account, settings, tmp_path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "safety:\n  global: {max_actions_per_hour: 10, max_actions_per_day: 10}\n"
        "  per_account: {max_actions_per_hour: 10, max_actions_per_day: 10}\n"
        "  risk: {suspend_after_rate_limits: 3, rate_limit_window_seconds: 3600}\n"
    )
    settings.POLICIES_FILE = policies
    action = plan(account, "limited")
    for _ in range(2):
        action_error_observe(action=action, error=RateLimitedError(message="(#17) limit", code=17))
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    action_error_observe(action=action, error=RateLimitedError(message="(#17) limit", code=17))
    account.refresh_from_db()
    assert account.state == AccountState.SUSPENDED
    assert "3 rate-limit answers from Instagram within 60 min" in account.state_reason
    evidence = SafetyEvent.all_workspaces.get(kind=SafetyEventKind.SUSPENSION)
    assert evidence.data["rate_limits_in_window"] == 3


def test_risk_decays_as_old_events_leave_the_window(account) -> None:
    safety_event_record(
        account_id=account.pk, workspace_id=account.workspace_id, kind=SafetyEventKind.RATE_LIMIT, code=4, detail="x"
    )
    assert AccountUsage.objects.get(account=account).risk_score == 25
    assert risks_refresh_stale() == 0  # just computed
    later = timezone.now() + timedelta(hours=25)
    assert risks_refresh_stale(now=later) == 1
    usage = AccountUsage.objects.get(account=account)
    assert usage.risk_score == 0 and usage.risk_components == {}
    assert risks_refresh_stale(now=later) == 0  # nothing above zero left
