"""The gate's caps are exact under concurrent dispatchers; a kill switch plans but sends nothing."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import AccountState, InstagramAccount
from actions.dispatcher.claim import (
    action_gate_and_mark,
    actions_claim_and_gate,
    actions_claim_due,
    actions_gate_and_mark,
)
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionDecision, ActionState, Verdict
from actions.tests.conftest import Connected, plan_reply, replies_sent
from safety.models import SafetyCounter
from safety.services import kill_switch_set

CAPS = """
safety:
  global: {max_actions_per_hour: 10, max_actions_per_day: 1000}
  per_workspace: {max_actions_per_hour: 7, max_actions_per_day: 1000}
  per_account: {max_actions_per_hour: 4, max_actions_per_day: 1000}
  burst: {per_account: {max_actions: 0, window_seconds: 0}}
  cooldowns: {comment_reply: 0}
  daily_limits: {comment_replies: 1000}
"""
THREADS = 8
ACTIONS_PER_ACCOUNT = 25


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "mode",
    ["single", "batched", "together"],
    ids=["one action a transaction", "a claim a transaction", "claimed and gated in one transaction"],
)
def test_no_cap_is_exceeded_by_one_under_concurrent_dispatchers(
    make_workspace, make_account, settings: Settings, tmp_path: Path, mode: str
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(CAPS)
    settings.POLICIES_FILE = policies
    first, second = make_workspace("First"), make_workspace("Second")
    accounts = [make_account(first), make_account(first), make_account(second), make_account(second)]
    Action.all_workspaces.bulk_create(
        Action(
            workspace_id=account.workspace_id,
            account=account,
            action_type="comment_reply",
            idempotency_key=f"a{account.pk}-{number}",
            payload={},
        )
        for account in accounts
        for number in range(ACTIONS_PER_ACCOUNT)
    )
    now = timezone.now()  # one instant for every thread: one hourly window, whatever the clock does
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def dispatcher(worker_id: str) -> None:
        try:
            start.wait()
            if mode == "together":  # as ``dispatch`` runs it: several actions of one account at a time
                while actions_claim_and_gate(worker_id=worker_id, now=now, limit=6)[0]:
                    pass
                return
            while claimed := actions_claim_due(worker_id=worker_id, now=now, limit=6 if mode == "batched" else 3):
                if mode == "batched":
                    actions_gate_and_mark(action_ids=claimed, worker_id=worker_id, now=now)
                    continue
                for action_id in claimed:
                    action_gate_and_mark(action_id=action_id, worker_id=worker_id, now=now)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher, args=(f"w{n}",)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors

    sending = Action.all_workspaces.filter(state=ActionState.SENDING)
    per_account = Counter(sending.values_list("account_id", flat=True))
    per_workspace = Counter(sending.values_list("workspace_id", flat=True))
    assert max(per_account.values()) <= 4
    assert max(per_workspace.values()) <= 7
    # Demand exceeds every cap, so the tightest one is reached exactly: the platform's 10.
    assert sum(per_account.values()) == 10
    assert SafetyCounter.objects.get(scope="global", window="hour").count == 10
    for workspace_id, count in per_workspace.items():
        assert SafetyCounter.objects.get(scope=f"workspace:{workspace_id}", window="hour").count == count
    # Nothing lost: every other action is planned again, with a deferral that explains itself.
    assert Action.all_workspaces.filter(state=ActionState.PLANNED).count() == 4 * ACTIONS_PER_ACCOUNT - 10
    assert not Action.all_workspaces.filter(state=ActionState.CLAIMED).exists()
    deferred = ActionDecision.all_workspaces.filter(verdict=Verdict.DEFER)
    assert deferred.count() == 4 * ACTIONS_PER_ACCOUNT - 10  # each deferred once: none claimed again too early
    assert all(decision.until and decision.until > now for decision in deferred)


def test_a_switched_off_account_plans_but_sends_nothing_until_switched_on(connected: Connected) -> None:
    account: InstagramAccount = connected.account
    assert account.state == AccountState.ACTIVE
    kill_switch_set(workspace_id=account.workspace_id, account_id=account.pk, stopped=True, reason="audit", actor=None)
    action = plan_reply(connected)
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED
    assert action.due_at > timezone.now()
    assert action.last_reason.startswith("kill switch: sending is stopped for this account (audit)")
    assert replies_sent(connected) == 0

    kill_switch_set(workspace_id=account.workspace_id, account_id=account.pk, stopped=False, actor=None)
    Action.all_workspaces.filter(pk=action.pk).update(due_at=timezone.now())  # the recheck time, without waiting
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert replies_sent(connected) == 1


@pytest.mark.django_db(transaction=True)
def test_a_gate_holding_its_accounts_does_not_hold_back_the_webhooks_of_those_accounts(
    connected: Connected, monkeypatch
) -> None:
    """The claim locks its accounts FOR NO KEY UPDATE: an inbound event stored for one of them while the gate runs
    (its foreign-key check on the account row) does not wait for the gate's commit."""
    from django.db import connections

    import actions.dispatcher.claim as claim
    from instagram.models import InboundEvent

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's")
    account = connected.account
    plan_reply(connected)
    stored: list[bool] = []
    real_gate = claim._gate_locked

    def gate_while_a_webhook_arrives(actions: Any, **kwargs: Any) -> Any:
        def store() -> None:
            try:
                with connections["default"].cursor() as cursor:
                    cursor.execute("SET lock_timeout = '2s'")
                InboundEvent.objects.create(
                    dedupe_key="during-the-gate",
                    object_type="instagram",
                    field="comments",
                    entry_id=account.ig_user_id,
                    payload={},
                    account=account,
                    workspace_id=account.workspace_id,
                )
                stored.append(True)
            finally:
                connections.close_all()

        thread = threading.Thread(target=store)
        thread.start()
        thread.join(5)
        return real_gate(actions, **kwargs)

    monkeypatch.setattr(claim, "_gate_locked", gate_while_a_webhook_arrives)
    claimed, _allowed = actions_claim_and_gate(worker_id="locks", now=timezone.now(), limit=10)
    assert claimed == 1
    assert stored == [True]  # stored while the account's row was locked by the gate
