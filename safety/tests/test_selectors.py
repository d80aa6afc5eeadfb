"""The safety settings' cache (``SAFETY_SETTINGS_CACHE_SECONDS``): the branch every production dispatcher runs.

The suite runs with the cache off unless INSTAFORGE_TEST_PRODUCTION_CACHES=1 (a CI leg); these tests
turn it on (``safety_settings_cached``) and drive its clock.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionState, Verdict
from safety import selectors
from safety.models import GlobalKillSwitch, SafetyOverride
from safety.selectors import account_safety, accounts_safety
from safety.services import gate_evaluate, kill_switch_set, policy_override_set


class _Clock:
    """``time.monotonic`` as ``safety.selectors`` sees it, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, safety_settings_cached: float) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(selectors, "time", SimpleNamespace(monotonic=clock.monotonic))
    return clock


@pytest.fixture
def account(make_account, workspace) -> InstagramAccount:
    return make_account(workspace, state=AccountState.ACTIVE)


def claimed(account: InstagramAccount, key: str = "k") -> Action:
    return Action.all_workspaces.create(
        workspace=account.workspace,
        account=account,
        action_type="comment_reply",
        idempotency_key=key,
        payload={"comment_id": "c", "message": "hi"},
        state=ActionState.CLAIMED,
        due_at=timezone.now(),
    )


def test_a_workspace_is_read_once_per_cache_time(account, clock, django_assert_num_queries) -> None:
    with django_assert_num_queries(2):  # the platform's kill switch, the workspace's override rows
        first = account_safety(workspace_id=account.workspace_id, account_id=account.pk)
    with django_assert_num_queries(0):
        assert account_safety(workspace_id=account.workspace_id, account_id=account.pk) is first
    clock.now += 1.01
    with django_assert_num_queries(2):
        account_safety(workspace_id=account.workspace_id, account_id=account.pk)


def test_an_override_written_by_another_process_is_picked_up_after_the_cache_time(account, clock) -> None:
    policy = account_safety(workspace_id=account.workspace_id, account_id=account.pk).policy
    assert policy.cooldown_seconds("comment_reply") == 30
    # Another process (the ORM here, not this process's services, which clear the cache) changes it.
    SafetyOverride.all_workspaces.create(workspace=account.workspace, values={"cooldowns.comment_reply": 300})
    clock.now += 0.5
    policy = account_safety(workspace_id=account.workspace_id, account_id=account.pk).policy
    assert policy.cooldown_seconds("comment_reply") == 30  # still the cached one
    clock.now += 0.6
    policy = account_safety(workspace_id=account.workspace_id, account_id=account.pk).policy
    assert policy.cooldown_seconds("comment_reply") == 300


def test_the_gate_sees_another_processs_kill_switch_after_the_cache_time(account, clock) -> None:
    assert gate_evaluate(action=claimed(account, "one"), account=account).verdict == Verdict.ALLOW
    GlobalKillSwitch.objects.update_or_create(pk=1, defaults={"sending_stopped": True, "stopped_reason": "incident"})
    Action.all_workspaces.update(started_at=timezone.now() - timedelta(hours=1))  # past the cooldown
    assert gate_evaluate(action=claimed(account, "two"), account=account).verdict == Verdict.ALLOW  # cached
    clock.now += 1.01
    decision = gate_evaluate(action=claimed(account, "three"), account=account)
    assert decision.verdict == Verdict.DEFER and "incident" in decision.reason


def test_this_processs_own_writes_take_effect_at_once(account, clock) -> None:
    account_safety(workspace_id=account.workspace_id, account_id=account.pk)  # cached
    kill_switch_set(workspace_id=account.workspace_id, account_id=account.pk, stopped=True, reason="x", actor=None)
    assert account_safety(workspace_id=account.workspace_id, account_id=account.pk).stopped is not None
    kill_switch_set(workspace_id=account.workspace_id, account_id=account.pk, stopped=False, actor=None)
    policy_override_set(workspace_id=account.workspace_id, values={"cooldowns.comment_reply": 120}, actor=None)
    safety = account_safety(workspace_id=account.workspace_id, account_id=account.pk)
    assert safety.stopped is None and safety.policy.cooldown_seconds("comment_reply") == 120


def test_cached_and_uncached_reads_agree(make_account, make_workspace, settings, clock) -> None:
    """``accounts_safety``: the cached branch (per account, through the cache) and the uncached one (per call)."""
    first, second = make_workspace("First"), make_workspace("Second")
    accounts = [make_account(first), make_account(first), make_account(second)]
    SafetyOverride.all_workspaces.create(workspace=first, values={"cooldowns.dm": 300})
    SafetyOverride.all_workspaces.create(
        workspace=first, account=accounts[1], values={"cooldowns.dm": 600}, sending_stopped=True, stopped_reason="why"
    )
    SafetyOverride.all_workspaces.create(workspace=second, values={"per_account.max_actions_per_hour": 7})
    pairs = [(account.workspace_id, account.pk) for account in accounts]
    cached = accounts_safety(accounts=pairs)
    settings.SAFETY_SETTINGS_CACHE_SECONDS = 0
    assert accounts_safety(accounts=pairs) == cached
    assert [safety.policy.cooldown_seconds("dm") for safety in cached] == [300, 600, 120]
    assert [safety.stopped is not None for safety in cached] == [False, True, False]
