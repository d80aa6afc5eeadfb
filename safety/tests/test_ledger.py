"""The ledger's tallies: the SQL the gate reads them with counts the same rows as their ORM condition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from actions.models import Action, ActionState
from safety.ledger import LedgerRead, Tally, ledger_tallies

AUDIO = {"message": {"attachment": {"type": "audio", "payload": {"url": "https://example.com/a.mp3"}}}}


def test_each_kind_of_tally_reads_the_rows_of_its_orm_condition(make_account, workspace) -> None:
    now = timezone.now()
    account, other = make_account(workspace), make_account(workspace)
    rows = [
        # (account, type, seconds ago, fingerprint, counterpart, payload)
        (account, "comment_reply", 30, "f1", "alice", {}),
        (account, "comment_reply", 600, "f1", "bob", {}),
        (account, "private_reply", 5000, "f2", "alice", {}),
        (account, "dm", 20, "f3", "alice", AUDIO),
        (account, "dm", 90_000, "f3", "alice", {}),  # older than a day
        (account, "sender_action", 10, "", "alice", {}),
        (other, "comment_reply", 30, "f1", "alice", {}),  # another account's
    ]
    Action.all_workspaces.bulk_create(
        Action(
            workspace_id=workspace.pk,
            account=owner,
            action_type=action_type,
            idempotency_key=f"k{number}",
            state=ActionState.SUCCEEDED,
            started_at=now - timedelta(seconds=ago),
            text_fingerprint=fingerprint,
            counterpart_id=counterpart,
            payload=payload,
        )
        for number, (owner, action_type, ago, fingerprint, counterpart, payload) in enumerate(rows)
    )
    asking = Action.all_workspaces.create(
        workspace_id=workspace.pk, account=account, action_type="dm", idempotency_key="asking", started_at=now
    )
    hour = now - timedelta(hours=1)
    tallies = {
        "everything": Tally(),
        "hour": Tally(since=hour),
        "content_hour": Tally(since=hour, content_only=True),
        "types": Tally(since=now - timedelta(days=1), types=frozenset({"comment_reply", "private_reply"})),
        "fingerprint": Tally(since=hour, fingerprint="f1"),
        "counterpart": Tally(since=hour, counterpart="alice", content_only=True),
        "audio_video": Tally(since=hour, types=frozenset({"dm"}), audio_video=True),
        "last_reply": Tally(types=frozenset({"comment_reply"}), latest=True),
        "last_to_alice": Tally(since=hour, counterpart="alice", latest=True),
        "none_latest": Tally(types=frozenset({"media_container"}), latest=True),
    }
    since = now - timedelta(days=1)
    read = LedgerRead(account_id=account.pk, action_id=asking.pk, since=since, tallies=tallies)
    # Two reads in one statement, the second narrower: each gets its own row.
    narrow = LedgerRead(account_id=other.pk, action_id=asking.pk, since=since, tallies={"hour": Tally(since=hour)})
    found, found_other = ledger_tallies([read, narrow])

    recent = Action.all_workspaces.filter(account=account, started_at__gte=since).exclude(pk=asking.pk)
    for name, tally in tallies.items():
        matching = recent.filter(tally.condition())
        expected = matching.aggregate(last=Max("started_at"))["last"] if tally.latest else matching.count()
        assert found[name] == expected, name
    assert (found["hour"], found["content_hour"], found["audio_video"]) == (4, 3, 1)
    assert found["none_latest"] is None
    assert found_other == {"hour": 1}


def test_a_read_walks_only_the_accounts_recent_actions_however_long_its_history(make_account, workspace) -> None:
    """The (account, started_at) index: the read stays under a millisecond with 200,000 old actions (issue 23)."""
    if connection.vendor != "postgresql":
        pytest.skip("the plan is PostgreSQL's")
    account = make_account(workspace)
    now = timezone.now()
    old = [
        Action(
            workspace=workspace,
            account=account,
            action_type="comment_reply",
            idempotency_key=f"old:{number}",
            payload={},
            state=ActionState.SUCCEEDED,
            due_at=now - timedelta(days=30),
            started_at=now - timedelta(days=30, seconds=number),
        )
        for number in range(2000)
    ]
    Action.all_workspaces.bulk_create(old)
    hour = now - timedelta(hours=1)
    read = LedgerRead(
        account_id=account.pk, action_id=0, since=now - timedelta(days=1), tallies={"hour": Tally(since=hour)}
    )
    plans: list[str] = []

    def explain(execute, sql, params, many, context):
        if sql.startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("EXPLAIN " + sql, params)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explain):
        assert ledger_tallies([read]) == [{"hour": 0}]
    assert len(plans) == 1
    for plan in plans:  # bounded by the time in the index, not a walk of all the account's rows
        assert "action_account_time_idx" in plan, plan
        assert "started_at >=" in plan.split("action_account_time_idx", 1)[1], plan
