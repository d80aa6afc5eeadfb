"""The ledger's tallies: the SQL the gate reads them with counts the same rows as their ORM condition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from actions.models import Action, ActionState
from safety.ledger import LedgerRead, Tally, _tallies_by_read, _tallies_by_shape, ledger_tallies

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


def _reads_of_mixed_shapes(make_account, workspace) -> list[LedgerRead]:
    """Reads over three accounts' actions, in three shapes (two reads share one), values differing in each."""
    now = timezone.now()
    accounts = [make_account(workspace) for _ in range(3)]
    rows = []
    for number, account in enumerate(accounts):
        for step in range(6):
            rows.append(
                Action(
                    workspace_id=workspace.pk,
                    account=account,
                    action_type=["comment_reply", "dm", "private_reply"][step % 3],
                    idempotency_key=f"shape{number}-{step}",
                    state=ActionState.SUCCEEDED,
                    started_at=now - timedelta(seconds=400 * step + 50 * number),
                    text_fingerprint=f"f{step % 2}",
                    counterpart_id=["alice", "bob"][(step + number) % 2],
                    payload=AUDIO if step == 1 else {},
                )
            )
    Action.all_workspaces.bulk_create(rows)
    since = now - timedelta(days=1)

    def reply_read(account, *, minutes: int, fingerprint: str, person: str) -> LedgerRead:
        window = now - timedelta(minutes=minutes)
        # A latest start first: the statement selects counts before latest starts, whatever the order here.
        tallies = {
            "person": Tally(since=window, types=frozenset({"dm", "comment_reply"}), counterpart=person, latest=True),
            "hour": Tally(since=window, content_only=True),
            "types": Tally(since=since, types=frozenset({"comment_reply"})),
            "fingerprint": Tally(since=window, fingerprint=fingerprint),
            "last_reply": Tally(types=frozenset({"comment_reply"}), latest=True),
        }
        return LedgerRead(account_id=account.pk, action_id=0, since=since, tallies=tallies)

    return [
        reply_read(accounts[0], minutes=60, fingerprint="f0", person="alice"),
        LedgerRead(
            account_id=accounts[1].pk,
            action_id=0,
            since=since,
            tallies={"audio": Tally(since=since, types=frozenset({"dm"}), audio_video=True)},
        ),
        reply_read(accounts[2], minutes=20, fingerprint="f1", person="bob"),
        LedgerRead(account_id=accounts[1].pk, action_id=0, since=now, tallies={"nothing": Tally(latest=True)}),
    ]


def test_reads_grouped_by_shape_get_what_a_branch_per_read_gets(make_account, workspace) -> None:
    """PostgreSQL reads by shape (``_tallies_by_shape``); every database can read a branch per read."""
    reads = _reads_of_mixed_shapes(make_account, workspace)
    by_read = _tallies_by_read(reads)
    assert ledger_tallies(reads) == by_read
    assert by_read[0]["hour"] and by_read[0]["person"] and by_read[1]["audio"] == 1
    assert by_read[3] == {"nothing": None}
    assert by_read[0] != by_read[2]  # the shared shape's reads keep their own values


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the read by shape is PostgreSQL's")
def test_rounds_of_one_shape_send_the_same_statement_whatever_their_size(make_account, workspace) -> None:
    """So psycopg converts it once and PostgreSQL prepares it (the dispatcher's rounds vary in size)."""
    reads = _reads_of_mixed_shapes(make_account, workspace)
    replies = [reads[0], reads[2]]
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        ledger_tallies(replies[:1])
        ledger_tallies(replies)
    assert len(statements) == 2 and statements[0] == statements[1]
    assert "unnest" in statements[0]
    assert _tallies_by_shape(replies) == _tallies_by_read(replies)


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
        assert _tallies_by_shape([read]) == [{"hour": 0}] == _tallies_by_read([read])
    assert len(plans) == 2
    for plan in plans:  # each bounded by the time in the index, not a walk of all the account's rows
        assert "action_account_time_idx" in plan, plan
        assert "started_at >=" in plan.split("action_account_time_idx", 1)[1], plan
