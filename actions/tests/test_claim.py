"""The claim's statements written by hand on PostgreSQL: the same rows, instances and locks as the ORM's."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Model
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.dispatcher import claim
from actions.models import Action, ActionDecision, ActionState, Verdict
from actions.services import action_plan
from safety.decision import Decision
from safety.models import AccountUsage
from safety.selectors import account_usage

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the hand-written statements are PostgreSQL's (elsewhere, the ORM's)"
)


def _fields(instance: Model | None) -> dict[str, Any] | None:
    if instance is None:
        return None
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def _plan(account: InstagramAccount, key: str, **fields: Any) -> Action:
    action, _ = action_plan(
        account=account,
        action_type="comment_reply",
        idempotency_key=key,
        payload={"comment_id": "17900000000000001", "message": "Thanks! ✓"},
    )
    if fields:
        Action.all_workspaces.filter(pk=action.pk).update(**fields)
    return action


@postgresql_only
def test_the_claims_read_builds_the_instances_the_orm_query_builds(make_account, workspace) -> None:
    """``_due_locked`` against ``_due_locked_queryset``: same actions in the same order, every field of the action,
    its account and the usage row equal (JSON decoded, times aware), the relations cached as select_related does
    (an account without a usage row has None cached)."""
    with_usage, without_usage = make_account(workspace), make_account(workspace)
    AccountUsage.objects.create(account=with_usage, usage={"app": {"call_count": 3}}, peak_percent=3)
    now = timezone.now()
    _plan(with_usage, "a", due_at=now - timedelta(seconds=5), attempts=2, result={"not_sent_tries": 1})
    _plan(without_usage, "b", due_at=now - timedelta(seconds=3))
    _plan(with_usage, "c", due_at=now - timedelta(seconds=1))
    _plan(with_usage, "later", due_at=now + timedelta(minutes=1))  # not due
    _plan(without_usage, "done", due_at=now - timedelta(seconds=9), state=ActionState.SUCCEEDED)

    with transaction.atomic():
        mine = claim._due_locked(now=now, limit=10)
        orm = list(claim._due_locked_queryset(now)[:10])
    assert [action.idempotency_key for action in mine] == ["a", "b", "c"]
    assert [action.pk for action in mine] == [action.pk for action in orm]
    for built, expected in zip(mine, orm, strict=True):
        assert _fields(built) == _fields(expected)
        assert isinstance(built.payload, dict) and built.due_at.tzinfo is not None
        assert not built._state.adding and built._state.db == "default"
        assert Action.account.is_cached(built)
        assert _fields(built.account) == _fields(expected.account)
        assert InstagramAccount.usage.related.is_cached(built.account)
        usage = account_usage(account=built.account, read=False)
        assert _fields(usage) == _fields(account_usage(account=expected.account, read=False))
        if usage is not None:
            assert usage.account is built.account
    assert account_usage(account=mine[1].account, read=False) is None
    with transaction.atomic():
        assert [action.idempotency_key for action in claim._due_locked(now=now, limit=1)] == ["a"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_claims_read_locks_its_actions_and_their_accounts_and_skips_locked_ones(make_account, workspace) -> None:
    """FOR NO KEY UPDATE OF the actions and the accounts, SKIP LOCKED: while one dispatcher holds an action, another
    claims neither it nor any other action of its account, and takes the other accounts' actions."""
    first, second = make_account(workspace), make_account(workspace)
    now = timezone.now()
    _plan(first, "a", due_at=now - timedelta(seconds=3))
    _plan(first, "b", due_at=now - timedelta(seconds=2))
    _plan(second, "c", due_at=now - timedelta(seconds=1))
    holding, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def other_dispatcher() -> None:
        try:
            with transaction.atomic():
                seen.extend(action.idempotency_key for action in claim._due_locked(now=now, limit=1))
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_dispatcher)
    thread.start()
    try:
        assert holding.wait(10)
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            taken = [action.idempotency_key for action in claim._due_locked(now=now, limit=10)]
    finally:
        release.set()
        thread.join(10)
    assert seen == ["a"]
    assert taken == ["c"]
    reads = [query["sql"] for query in queries if query["sql"].startswith("SELECT")]
    assert reads[0].endswith('FOR NO KEY UPDATE OF "actions_action", "accounts_instagramaccount" SKIP LOCKED')


def _round(make_account, workspace, prefix: str, *, now: Any) -> list[Action]:
    """Five claimed actions of three accounts, some with a past (attempts, start time) to keep or add to."""
    accounts = [make_account(workspace) for _ in range(3)]
    due, started = now - timedelta(minutes=1), now - timedelta(hours=2)
    actions = [
        _plan(accounts[0], f"{prefix}allow", attempts=2, due_at=due, created_at=due),
        _plan(accounts[1], f"{prefix}allow-note", due_at=due, created_at=due),
        _plan(
            accounts[2], f"{prefix}defer", started_at=started, attempts=1, claimed_by="w", due_at=due, created_at=due
        ),
        _plan(accounts[0], f"{prefix}defer-other", claimed_by="w", due_at=due, created_at=due),
        _plan(accounts[1], f"{prefix}deny", started_at=started, due_at=due, created_at=due),
    ]
    return list(Action.all_workspaces.filter(pk__in=[action.pk for action in actions]).order_by("id"))


def _decisions(now: Any) -> list[Decision]:
    return [
        Decision.allow("within every limit"),
        Decision.allow("pattern: a variation was sent; within every limit"),
        Decision.defer(now + timedelta(minutes=5), "cooldown: 30 s between comment replies"),
        Decision.defer(now + timedelta(hours=1), "account hourly limit: 60 of 60 used in the last hour"),
        Decision.deny("the account is disconnected; nothing is sent from it"),
    ]


@postgresql_only
def test_a_rounds_one_statement_writes_what_the_verdict_updates_and_the_decisions_insert_write(
    make_account, workspace
) -> None:
    """``_round_write`` (PostgreSQL: one statement per round) against ``_verdicts_apply`` and ``decisions_write``
    (a statement per kind of verdict, then the decisions): the same rows and the same actions in memory."""
    now = timezone.now()
    columns = [
        field.attname for field in Action._meta.concrete_fields if field.attname not in ("id", "idempotency_key")
    ]

    def run(prefix: str, *, together: bool) -> tuple[list[dict[str, Any]], list[Any], list[Any]]:
        actions = _round(make_account, workspace, prefix, now=now)
        verdicts = list(zip(actions, _decisions(now), strict=True))
        decisions = [
            ActionDecision(
                workspace_id=action.workspace_id,
                action=action,
                verdict=decision.verdict,
                reason=decision.reason,
                until=decision.until,
                at=now,
            )
            for action, decision in verdicts
        ]
        with CaptureQueriesContext(connection) as queries:
            if together:
                claim._round_write(verdicts, decisions, worker_id="w", now=now)
            else:
                claim._verdicts_apply(verdicts, worker_id="w", now=now)
                claim.decisions_write(decisions)
        statements.append(len(queries))
        rows = list(Action.all_workspaces.filter(pk__in=[a.pk for a in actions]).order_by("id").values(*columns))
        written = ActionDecision.all_workspaces.filter(action__in=actions).order_by("action_id")
        decided = list(written.values("workspace_id", "at", "verdict", "reason", "until"))
        memory = [[getattr(action, name) for name in columns if name != "account_id"] for action in actions]
        return rows, decided, memory

    statements: list[int] = []
    expected_rows, expected_decisions, _ = run("orm-", together=False)
    rows, decisions, memory = run("one-", together=True)
    for row, expected in zip(rows, expected_rows, strict=True):
        assert {**row, "account_id": None} == {**expected, "account_id": None}
    assert decisions == expected_decisions
    assert statements == [6, 1]  # a denial, two allows and two deferrals of their own reasons, the decisions; then one
    # In memory as written (the allowed ones go to the senders as they are).
    in_rows = [[row[name] for name in columns if name != "account_id"] for row in rows]
    assert memory == in_rows
    assert [row["state"] for row in rows] == ["sending", "sending", "planned", "planned", "denied"]
    assert [row["attempts"] for row in rows] == [3, 1, 1, 0, 0]


def test_claiming_and_gating_one_action_runs_few_statements(make_account, workspace) -> None:
    """A dispatcher woken for one reply: on PostgreSQL the claim's read, the ledger's, the shared counters (one
    statement) and one statement for the verdict and its decision, in a transaction (here a savepoint of the test's
    transaction: two)."""
    account = make_account(workspace)
    AccountUsage.objects.create(account=account)
    _plan(account, "first")
    claim.actions_claim_and_gate(worker_id="w", now=timezone.now())  # the counters' rows of this window exist now
    # Past the cooldown: the first one started a minute ago.
    Action.all_workspaces.filter(idempotency_key="first").update(started_at=timezone.now() - timedelta(minutes=1))
    _plan(account, "second")
    later = timezone.now()
    settings_reads = 2  # the kill switch and the overrides (cached for a second in production, not in tests)
    with CaptureQueriesContext(connection) as queries:
        claimed, allowed = claim.actions_claim_and_gate(worker_id="w", now=later)
    assert (claimed, [action.idempotency_key for action in allowed]) == (1, ["second"])
    if connection.vendor == "postgresql":
        assert len(queries) <= 6 + settings_reads, [query["sql"][:60] for query in queries]
    else:
        # The claim's read and its conditional update, then the gate's read of the claimed rows and the same writes
        # with one statement per kind of verdict and one for the decisions.
        assert len(queries) <= 9 + settings_reads, [query["sql"][:80] for query in queries]
    assert allowed[0].state == ActionState.SENDING and allowed[0].claimed_by == "w"
    assert ActionDecision.all_workspaces.get(action=allowed[0]).verdict == Verdict.ALLOW
