"""The dispatcher against the sandbox over HTTP: claiming, sending, deferring, crash recovery, token errors."""

from __future__ import annotations

from concurrent.futures import Future
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AccountState
from accounts.services import account_pause
from actions.dispatcher.claim import actions_claim_due
from actions.dispatcher.loop import dispatch_once
from actions.dispatcher.recovery import actions_reconcile_unknown, leases_recover
from actions.dispatcher.sending import Senders
from actions.models import Action, ActionDecision, ActionState, ActionType, Verdict
from actions.services import action_plan
from actions.tests.conftest import Connected, plan_reply, replies_sent
from sandbox.services import sandbox_reply_create, sandbox_tokens_revoke


def test_planning_twice_with_the_same_key_makes_one_action(connected: Connected) -> None:
    first = plan_reply(connected)
    second = plan_reply(connected, message="something else")
    assert first.pk == second.pk
    assert Action.all_workspaces.count() == 1


def test_a_due_action_is_sent_once_and_recorded(connected: Connected) -> None:
    action = plan_reply(connected)
    assert dispatch_once(worker_id="w1") == 1
    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert action.result["id"]
    assert [d.verdict for d in ActionDecision.all_workspaces.filter(action=action)] == [Verdict.ALLOW]
    assert replies_sent(connected) == 1
    assert dispatch_once(worker_id="w2") == 0
    assert replies_sent(connected) == 1


def test_no_action_is_claimed_twice(connected: Connected) -> None:
    for number in range(10):
        plan_reply(connected, key=f"k{number}")
    now = timezone.now()
    first = actions_claim_due(worker_id="a", now=now, limit=6)
    second = actions_claim_due(worker_id="b", now=now, limit=6)
    assert len(first) == 6 and len(second) == 4
    assert not set(first) & set(second)
    assert actions_claim_due(worker_id="c", now=now, limit=6) == []


def test_an_action_not_yet_due_waits(connected: Connected) -> None:
    action, _ = action_plan(
        account=connected.account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="later",
        payload={"comment_id": connected.comment.comment_id, "message": "later"},
        due_at=timezone.now() + timedelta(minutes=5),
    )
    assert dispatch_once(worker_id="w") == 0
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED


def test_a_paused_account_defers_and_keeps_the_action(connected: Connected) -> None:
    account_pause(account_id=connected.account.pk, actor=None)
    action = plan_reply(connected)
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED
    assert action.due_at > timezone.now()
    decision = ActionDecision.all_workspaces.get(action=action)
    assert decision.verdict == Verdict.DEFER and "paused" in decision.reason
    assert replies_sent(connected) == 0


def test_the_cooldown_spaces_two_replies(connected: Connected) -> None:
    plan_reply(connected, key="one")
    second = plan_reply(connected, key="two")
    dispatch_once(worker_id="w")
    second.refresh_from_db()
    assert second.state == ActionState.PLANNED
    assert "cooldown" in second.last_reason
    assert replies_sent(connected) == 1


def test_a_revoked_token_moves_the_account_to_error_and_keeps_the_action(connected: Connected) -> None:
    sandbox_tokens_revoke(account=connected.sandbox_account)
    action = plan_reply(connected)
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    connected.account.refresh_from_db()
    assert connected.account.state == AccountState.ERROR
    assert "token" in connected.account.state_reason.lower()
    assert action.state == ActionState.PLANNED
    assert "kept until the account is reconnected" in action.last_reason


def test_a_dead_claim_returns_to_planned_and_a_dead_send_is_reconciled_not_resent(connected: Connected) -> None:
    claimed = plan_reply(connected, key="claimed")
    sending = plan_reply(connected, key="sending", message="Was it sent?")
    past = timezone.now() - timedelta(seconds=1)
    Action.all_workspaces.filter(pk=claimed.pk).update(state=ActionState.CLAIMED, claimed_by="dead", lease_until=past)
    Action.all_workspaces.filter(pk=sending.pk).update(
        state=ActionState.SENDING, claimed_by="dead", lease_until=past, started_at=past
    )
    # The dead dispatcher's call did reach Instagram.
    sandbox_reply_create(account=connected.sandbox_account, comment=connected.comment, message="Was it sent?")

    assert leases_recover(now=timezone.now()) == (1, 1)
    assert Action.all_workspaces.get(pk=claimed.pk).state == ActionState.PLANNED
    assert Action.all_workspaces.get(pk=sending.pk).state == ActionState.UNKNOWN

    assert actions_reconcile_unknown(worker_id="w", now=timezone.now()) == 1
    sending.refresh_from_db()
    assert sending.state == ActionState.SUCCEEDED
    assert sending.result["reconciled"] is True
    assert replies_sent(connected) == 0  # nothing was sent again


def test_an_unknown_outcome_that_did_not_happen_is_sent_again_once(connected: Connected) -> None:
    action = plan_reply(connected, message="Lost on the way")
    Action.all_workspaces.filter(pk=action.pk).update(
        state=ActionState.UNKNOWN, started_at=timezone.now() - timedelta(minutes=5)
    )
    actions_reconcile_unknown(worker_id="w", now=timezone.now())
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED
    Action.all_workspaces.filter(pk=action.pk).update(started_at=None)  # outside the cooldown for this test
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert replies_sent(connected) == 1


def test_a_gate_decision_takes_a_bounded_number_of_queries(
    make_account, workspace, django_assert_max_num_queries
) -> None:
    """The dispatcher's hot path, in steady state (the window's counter rows exist)."""
    from actions.dispatcher.claim import action_gate_and_mark, actions_claim_due
    from actions.services import action_plan
    from safety.models import AccountUsage

    account = make_account(workspace)
    AccountUsage.objects.create(account=account)
    for key, action_type in (("first", "comment_reply"), ("second", "dm")):  # no cooldown between them
        action_plan(
            account=account, action_type=action_type, idempotency_key=key, payload={"recipient_id": key, "message": key}
        )
    first, second = actions_claim_due(worker_id="w", now=timezone.now())
    assert action_gate_and_mark(action_id=first, worker_id="w", now=timezone.now()) is not None
    # Lock with the usage row, kill switches, overrides, one aggregate over the ledger (limits, per-person
    # cooldown, patterns), the shared counters (one statement in a savepoint: 3), the decision, mark sending,
    # begin/commit: 11.
    with django_assert_max_num_queries(11):
        assert action_gate_and_mark(action_id=second, worker_id="w", now=timezone.now()) is not None


def _one_reply_due_on_each_of(make_account, workspace, *, accounts: int) -> None:
    """``accounts`` new accounts (with their usage rows, as after their first call), each with one reply due."""
    from safety.models import AccountUsage

    for _ in range(accounts):
        account = make_account(workspace)
        AccountUsage.objects.create(account=account)
        action_plan(account=account, action_type="comment_reply", idempotency_key="k", payload={"message": "hi"})


def test_a_claim_of_many_accounts_is_gated_in_a_bounded_number_of_queries(
    make_account, workspace, django_assert_max_num_queries
) -> None:
    """One round per claim when each account has one action: the query count does not grow with the claim."""
    from actions.dispatcher.claim import actions_gate_and_mark

    _one_reply_due_on_each_of(make_account, workspace, accounts=12)
    claimed = actions_claim_due(worker_id="w", now=timezone.now(), limit=12)
    # Lock with the usage rows, kill switches, overrides, one ledger query for all, one counter statement,
    # mark sending, the decisions, begin/commit (and the counters' rows of a new window: the statement finds
    # them missing, they are created, then taken in a savepoint).
    with django_assert_max_num_queries(17):
        allowed = actions_gate_and_mark(action_ids=claimed, worker_id="w", now=timezone.now())
    assert len(allowed) == 12
    assert set(Action.all_workspaces.values_list("state", flat=True)) == {ActionState.SENDING}
    assert ActionDecision.all_workspaces.filter(verdict=Verdict.ALLOW).count() == 12


def test_claiming_and_gating_together_takes_a_bounded_number_of_queries(
    make_account, workspace, django_assert_max_num_queries
) -> None:
    """``dispatch``'s path: the claim is the gate's own read, whatever the number of accounts."""
    from actions.dispatcher.claim import actions_claim_and_gate

    _one_reply_due_on_each_of(make_account, workspace, accounts=12)
    # As above (the counters' rows of a new window included), the claim being the gate's read on
    # PostgreSQL; SQLite adds the claim's select and one conditional update per action.
    with django_assert_max_num_queries(16 if connection.features.has_select_for_update_skip_locked else 30):
        claimed, allowed = actions_claim_and_gate(worker_id="w", now=timezone.now(), limit=12)
    assert claimed == len(allowed) == 12
    assert set(Action.all_workspaces.values_list("state", flat=True)) == {ActionState.SENDING}
    assert set(Action.all_workspaces.values_list("claimed_by", flat=True)) == {"w"}
    assert ActionDecision.all_workspaces.filter(verdict=Verdict.ALLOW).count() == 12


def test_decisions_written_together_are_the_rows_bulk_create_writes(make_account, workspace) -> None:
    """``decisions_write`` (one ``INSERT … unnest`` on PostgreSQL) stores each field as ``bulk_create`` does."""
    from actions.dispatcher.claim import decisions_write

    account = make_account(workspace)
    actions = [
        action_plan(account=account, action_type="comment_reply", idempotency_key=f"k{n}", payload={"message": "hi"})[0]
        for n in range(3)
    ]
    now = timezone.now()
    later = now + timedelta(minutes=5)

    def decisions(run: str) -> list[ActionDecision]:
        return [
            ActionDecision(
                workspace_id=workspace.pk, action=actions[0], verdict=Verdict.ALLOW, reason=f"{run} ok", at=now
            ),
            ActionDecision(
                workspace_id=workspace.pk, action=actions[1], verdict=Verdict.DEFER, reason=f"{run} wait", until=later
            ),
            ActionDecision(workspace_id=workspace.pk, action=actions[2], verdict=Verdict.DENY, reason=f"{run} é'\\"),
        ]

    fields = ("workspace_id", "action_id", "at", "verdict", "reason", "until")
    written = decisions("one")
    decisions_write(written)
    ActionDecision.all_workspaces.bulk_create(decisions("two"))
    one = list(ActionDecision.all_workspaces.filter(reason__startswith="one").order_by("action_id").values(*fields))
    two = list(ActionDecision.all_workspaces.filter(reason__startswith="two").order_by("action_id").values(*fields))
    assert len(one) == 3
    for mine, orm in zip(one, two, strict=True):
        assert mine["reason"][3:] == orm["reason"][3:]
        assert {**mine, "reason": "", "at": None} == {**orm, "reason": "", "at": None}
    assert [row["at"] for row in one] == [decision.at for decision in written]
    assert one[0]["at"] == now and one[1]["until"] == later
    decisions_write([])  # nothing to write: no statement, no error


def test_a_later_action_of_an_account_in_the_same_claim_counts_the_earlier_one(make_account, workspace) -> None:
    """Rounds: the second reply of an account is gated after the first is marked sending (the cooldown binds)."""
    from actions.dispatcher.claim import actions_gate_and_mark

    first_account, other = make_account(workspace), make_account(workspace)
    for account, key in ((first_account, "a"), (first_account, "b"), (other, "a")):
        action_plan(account=account, action_type="comment_reply", idempotency_key=key, payload={"message": key})
    claimed = actions_claim_due(worker_id="w", now=timezone.now())
    allowed = actions_gate_and_mark(action_ids=claimed, worker_id="w", now=timezone.now())
    assert sorted((action.account_id, action.idempotency_key) for action in allowed) == [
        (first_account.pk, "a"),
        (other.pk, "a"),
    ]
    held = Action.all_workspaces.get(account=first_account, idempotency_key="b")
    assert held.state == ActionState.PLANNED
    assert "cooldown: 30 s between comment replies" in held.last_reason


def test_a_sender_sends_while_the_lease_runs_and_leaves_a_lapsed_one_to_recovery(
    connected: Connected, transactional_db: None
) -> None:
    """The gate's lease travels with the action; the sender sends on it without reading the row again."""
    from actions.dispatcher.claim import actions_gate_and_mark
    from actions.dispatcher.sending import OutcomeWriter, _send_if_still_ours

    outcomes = OutcomeWriter()
    on_time, late = plan_reply(connected, key="on-time"), plan_reply(connected, key="late", message="Too late")
    Action.all_workspaces.filter(pk=late.pk).update(due_at=timezone.now() + timedelta(minutes=1))
    now = timezone.now()
    (marked,) = actions_gate_and_mark(action_ids=actions_claim_due(worker_id="w", now=now), worker_id="w", now=now)
    assert marked.lease_until == Action.all_workspaces.get(pk=on_time.pk).lease_until
    assert marked.lease_until is not None and marked.lease_until > timezone.now()
    _send_if_still_ours(marked, "w", outcomes.add)
    outcomes.close()  # writes what the senders handed over
    assert Action.all_workspaces.get(pk=on_time.pk).state == ActionState.SUCCEEDED
    assert replies_sent(connected) == 1

    # A sender that only gets to its action after the lease lapsed leaves it alone: recovery reconciles it.
    Action.all_workspaces.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(minutes=5))
    later = timezone.now() + timedelta(minutes=2)  # past the cooldown after the first reply
    (stale,) = actions_gate_and_mark(action_ids=actions_claim_due(worker_id="w", now=later), worker_id="w", now=later)
    stale.lease_until = timezone.now() - timedelta(seconds=1)
    _send_if_still_ours(stale, "w", outcomes.add)
    assert Action.all_workspaces.get(pk=late.pk).state == ActionState.SENDING
    assert replies_sent(connected) == 1


@pytest.mark.parametrize(
    "states",
    [
        [AccountState.PAUSED, AccountState.PAUSED, AccountState.SUSPENDED],  # two sets: one UPDATE each
        [AccountState.PAUSED, AccountState.SUSPENDED, AccountState.ERROR, AccountState.CONNECTING],  # bulk_update
    ],
)
def test_deferred_actions_are_written_back_with_their_own_time_and_reason(make_account, workspace, states) -> None:
    from actions.dispatcher.claim import actions_gate_and_mark

    accounts = [make_account(workspace, state=state) for state in states]
    for account in accounts:
        action_plan(account=account, action_type="comment_reply", idempotency_key="k", payload={"message": "hi"})
    now = timezone.now()
    claimed = actions_claim_due(worker_id="w", now=now, limit=10)
    assert actions_gate_and_mark(action_ids=claimed, worker_id="w", now=now) == []
    for action in Action.all_workspaces.filter(pk__in=claimed):
        decision = ActionDecision.all_workspaces.get(action=action)
        assert decision.verdict == Verdict.DEFER
        assert (action.state, action.claimed_by, action.lease_until) == (ActionState.PLANNED, "", None)
        assert (action.due_at, action.last_reason) == (decision.until, decision.reason)
        assert action.due_at > now


def test_outcomes_written_together_keep_their_own_result_reason_and_time(make_account, workspace) -> None:
    """One statement for many outcomes; only actions still sending (or unknown) change."""
    from actions.services import Outcome, actions_finish

    account = make_account(workspace)
    actions = [
        action_plan(account=account, action_type="comment_reply", idempotency_key=str(n), payload={})[0]
        for n in range(3)
    ]
    Action.all_workspaces.filter(pk__in=[actions[0].pk, actions[1].pk]).update(state=ActionState.SENDING)
    Action.all_workspaces.filter(pk=actions[2].pk).update(state=ActionState.DENIED)
    at = timezone.now() - timedelta(seconds=3)
    actions_finish(
        [
            Outcome(action_id=actions[0].pk, state=ActionState.SUCCEEDED, result={"id": "17"}, finished_at=at),
            Outcome(
                action_id=actions[1].pk,
                state=ActionState.FAILED,
                result={"error": {"code": 100, "nested": [1, "é"]}},
                reason="x" * 600,
            ),
            Outcome(action_id=actions[2].pk, state=ActionState.SUCCEEDED, result={"id": "no"}),
        ]
    )
    first, second, third = (Action.all_workspaces.get(pk=action.pk) for action in actions)
    assert (first.state, first.result, first.finished_at, first.lease_until) == (
        ActionState.SUCCEEDED,
        {"id": "17"},
        at,
        None,
    )
    assert (second.state, second.result, second.last_reason) == (
        ActionState.FAILED,
        {"error": {"code": 100, "nested": [1, "é"]}},
        "x" * 500,
    )
    assert second.finished_at is not None
    assert (third.state, third.result, third.finished_at) == (ActionState.DENIED, {}, None)
    assert Action.all_workspaces.filter(result__id="17").count() == 1  # stored as JSON, not as a string


@pytest.mark.django_db(transaction=True)  # the writer's thread has a connection of its own
def test_the_outcome_writer_writes_what_senders_hand_over_and_retries_a_failed_write(
    make_account, workspace, monkeypatch
) -> None:
    from actions.dispatcher import sending
    from actions.services import Outcome, actions_finish

    account = make_account(workspace)
    action, _ = action_plan(account=account, action_type="comment_reply", idempotency_key="k", payload={})
    Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.SENDING)
    tries: list[int] = []

    def failing_once(outcomes: list[Outcome]) -> None:
        tries.append(len(outcomes))
        if len(tries) == 1:
            raise RuntimeError("database gone")
        actions_finish(outcomes)

    monkeypatch.setattr(sending, "actions_finish", failing_once)
    writer = sending.OutcomeWriter(interval=0.01)
    writer.add(Outcome(action_id=action.pk, state=ActionState.SUCCEEDED, result={"id": "1"}, reason="sent"))
    deadline = timezone.now() + timedelta(seconds=5)
    while len(tries) < 2 and timezone.now() < deadline:
        writer._stop.wait(0.01)
    writer.close()
    assert tries[:2] == [1, 1]
    action.refresh_from_db()
    assert (action.state, action.result, action.last_reason) == (ActionState.SUCCEEDED, {"id": "1"}, "sent")


class _RecordingSenders(Senders):
    """Senders that record what they are handed instead of sending it."""

    def __init__(self) -> None:
        super().__init__(threads=2)  # a batch of 4, at most 6 in flight
        self.submitted: list[int] = []

    def submit(self, action: Action, *, worker_id: str) -> None:
        self.submitted.append(action.pk)


def test_a_busy_dispatcher_claims_again_only_once_a_batch_fits(connected: Connected) -> None:
    for number in range(8):
        plan_reply(connected, key=f"k{number}")
    senders = _RecordingSenders()
    try:
        calls: list[Future[None]] = [Future() for _ in range(3)]
        senders._in_flight = set(calls)  # 3 calls under way: room for 3, less than a batch
        assert dispatch_once(worker_id="w", senders=senders) == 1  # busy, not idle
        assert senders.submitted == []
        assert Action.all_workspaces.filter(state=ActionState.PLANNED).count() == 8

        calls[0].set_result(None)  # room for 4: a batch
        assert dispatch_once(worker_id="w", senders=senders) == 4  # claimed and gated together
        assert ActionDecision.all_workspaces.count() == 4
        # One account: its reply cooldown lets the first through and defers the others.
        sending = Action.all_workspaces.filter(state=ActionState.SENDING)
        assert senders.submitted == list(sending.values_list("pk", flat=True)) and len(senders.submitted) == 1
    finally:
        for call in calls:
            if not call.done():
                call.set_result(None)
        senders.close()
