"""Past rows for a benchmark to run over: the ledger (actions, their gate decisions) and the inbound events.

A database that has served for months holds millions of rows, and the hot paths (the claim, the gate's counts,
the webhook's dedupe) must stay as fast over them as over an empty one (issue 23, "History does not slow it
down"). ``history_seed`` writes them quickly: ``COPY`` on PostgreSQL, multi-row batches on SQLite; the decisions
are derived from the actions in one ``INSERT … SELECT``. The rows look like the real ones: spread over the past
30 days (all older than a day, so that no cap's or cooldown's window counts them and the verdicts of the run
are those of an empty database), over the given accounts, in terminal states (mostly succeeded, some failed
or denied), with the payloads, dedupe keys and outcomes the product writes. Autovacuum is left as configured;
the tables are analysed afterwards, as autovacuum would have done long before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.models import Action, ActionDecision, ActionState, ActionType
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import MESSAGING_STORAGE_FIELD, dedupe_key_for

logger = logging.getLogger(__name__)

HISTORY_KEY_PREFIX = "history:"
HISTORY_CORRELATION_PREFIX = "history-"
SQLITE_BATCH = 2000
TEXTS = ("Hi {username}, it is 2.50!", "Thanks {username}, 2.50 each.", "Welcome! Here is our price list.")


def _fingerprint(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 (a fingerprint, not a secret)


def _when(rng: random.Random, now: datetime) -> datetime:
    """A moment between 30 days and 25 hours ago."""
    return now - timedelta(hours=25) - timedelta(seconds=rng.uniform(0, 29 * 86400 - 3600))


def _action_rows(accounts: Sequence[InstagramAccount], rows: int, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(23)
    for index in range(rows):
        account = accounts[index % len(accounts)]
        created = _when(rng, now)
        follower = str(10**15 + rng.randrange(9 * 10**15))
        draw = rng.random()
        text = rng.choice(TEXTS).format(username=f"fan{index}")
        payload: dict[str, Any]
        if draw < 0.45:
            comment_id = str(17_800_000_000_000_000 + index)
            kind, payload, source = ActionType.COMMENT_REPLY, {"comment_id": comment_id, "message": text}, "comment"
            source_id, result = comment_id, {"id": str(17_850_000_000_000_000 + index)}
        elif draw < 0.85:
            kind, source, source_id = ActionType.DM, "message", f"history-mid-{index}"
            payload = {"recipient_id": follower, "message": text, "automated": True}
            result = {"recipient_id": follower, "message_id": f"history-reply-{index}"}
        else:
            kind, source, source_id = ActionType.SENDER_ACTION, "message", f"history-mid-{index}"
            payload, text = {"recipient_id": follower, "sender_action": "typing_on"}, ""
            result = {"recipient_id": follower}
        state_draw = rng.random()
        state = (
            ActionState.SUCCEEDED
            if state_draw < 0.92
            else ActionState.FAILED
            if state_draw < 0.96
            else ActionState.DENIED
        )
        started = None if state == ActionState.DENIED else created + timedelta(milliseconds=rng.uniform(20, 900))
        yield {
            "workspace_id": account.workspace_id,
            "account_id": account.pk,
            "action_type": kind.value,
            "payload": json.dumps(payload),
            "state": state.value,
            "idempotency_key": f"{HISTORY_KEY_PREFIX}{index}",
            "due_at": created,
            "created_at": created,
            "source_kind": source,
            "source_id": source_id,
            "claimed_by": "",
            "lease_until": None,
            "started_at": started,
            "finished_at": (started or created) + timedelta(milliseconds=rng.uniform(50, 400)),
            "attempts": 0 if started is None else 1,
            "result": json.dumps(result if state == ActionState.SUCCEEDED else {}),
            "last_reason": {"failed": "HTTP 400 (code 100)", "denied": "over the account's daily cap"}.get(
                state.value, ""
            ),
            "counterpart_id": follower,
            "text_fingerprint": _fingerprint(text) if text else "",
            "correlation_id": hashlib.md5(f"h{index}".encode()).hexdigest(),  # noqa: S324 (an id)
        }


def _event_rows(accounts: Sequence[InstagramAccount], rows: int, now: datetime) -> Iterator[dict[str, Any]]:
    rng = random.Random(2323)
    for index in range(rows):
        account = accounts[index % len(accounts)]
        received = _when(rng, now)
        follower = str(10**15 + rng.randrange(9 * 10**15))
        if rng.random() < 0.5:
            field = "comments"
            value = {
                "from": {"id": follower, "username": f"fan{index}"},
                "media": {"id": str(17_918_000_000_000_000 + index % 500), "media_product_type": "FEED"},
                "id": str(17_800_000_000_000_000 + index),
                "text": "price?",
            }
            payload: dict[str, Any] = {"field": field, "value": value}
        else:
            field = MESSAGING_STORAGE_FIELD
            milliseconds = int(received.timestamp() * 1000)
            payload = {
                "sender": {"id": follower},
                "recipient": {"id": account.ig_user_id},
                "timestamp": milliseconds,
                "message": {"mid": f"history-mid-{index}", "text": "what is the price?"},
            }
        processed = rng.random() < 0.95
        yield {
            "dedupe_key": dedupe_key_for(field=field, entry_id=account.ig_user_id, payload=payload),
            "object_type": "instagram",
            "field": field,
            "entry_id": account.ig_user_id,
            "entry_time": received,
            "payload": json.dumps(payload),
            "workspace_id": account.workspace_id,
            "account_id": account.pk,
            "state": (InboundEventState.PROCESSED if processed else InboundEventState.IGNORED).value,
            "received_at": received,
            "deliveries": 1,
            "attempts": 1,
            "processing_since": received,
            "processed_at": received + timedelta(milliseconds=rng.uniform(5, 300)),
            "outcome": "1 action planned" if processed else "no rule matched",
            # Marked, for ``history_delete``: the run's own events are referenced by its comments and messages.
            "correlation_id": HISTORY_CORRELATION_PREFIX + hashlib.md5(f"e{index}".encode()).hexdigest(),  # noqa: S324
        }


def _columns(model: type[Model], names: Sequence[str]) -> list[str]:
    by_attname = {field.attname: field.column for field in model._meta.concrete_fields}
    return [by_attname[name] for name in names]


def _write(model: type[Model], rows: Iterator[dict[str, Any]]) -> int:
    """Insert ``rows`` (column values by attname) into ``model``'s table; returns how many."""
    first = next(rows, None)
    if first is None:
        return 0
    names = list(first)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _columns(model, names))
    written = 0
    if connection.vendor == "postgresql":
        with (
            transaction.atomic(),
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            for row in _chain_one(first, rows):
                copy.write_row([row[name] for name in names])
                written += 1
        return written
    adapt = connection.ops.adapt_datetimefield_value
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    batch: list[list[Any]] = []

    def flush() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES {placeholders}", batch)  # noqa: S608
        batch.clear()

    for row in _chain_one(first, rows):
        batch.append([adapt(value) if isinstance(value, datetime) else value for value in row.values()])
        written += 1
        if len(batch) >= SQLITE_BATCH:
            flush()
    if batch:
        flush()
    return written


def _chain_one(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def history_delete(*, workspace_ids: Sequence[int]) -> None:
    """Remove an earlier seeding's rows from these workspaces, before the benchmark deletes them.

    In three statements: deleting a workspace through the ORM lists the primary keys of every row it cascades
    to in one query, and PostgreSQL takes at most 65,535 parameters. No other row refers to these (the run's own
    inbound events, which its comments and messages refer to, stay for the ORM).
    """
    if not workspace_ids:
        return
    action_table = connection.ops.quote_name(Action._meta.db_table)
    marks = ", ".join(["%s"] * len(workspace_ids))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(ActionDecision._meta.db_table)} WHERE action_id IN "  # noqa: S608
            f"(SELECT id FROM {action_table} WHERE workspace_id IN ({marks}) AND idempotency_key LIKE %s)",
            [*workspace_ids, HISTORY_KEY_PREFIX + "%"],
        )
        cursor.execute(
            f"DELETE FROM {action_table} WHERE workspace_id IN ({marks}) AND idempotency_key LIKE %s",  # noqa: S608
            [*workspace_ids, HISTORY_KEY_PREFIX + "%"],
        )
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(InboundEvent._meta.db_table)} "  # noqa: S608
            f"WHERE workspace_id IN ({marks}) AND correlation_id LIKE %s",
            [*workspace_ids, HISTORY_CORRELATION_PREFIX + "%"],
        )


def history_seed(*, accounts: Sequence[InstagramAccount], rows: int) -> dict[str, int]:
    """``rows`` actions, one gate decision each and ``rows`` inbound events over ``accounts``; the counts written.

    Rows from an earlier seeding go with their accounts (the benchmark deletes its workspace first) and inbound
    events whose keys are taken are not written twice.
    """
    if rows <= 0 or not accounts:
        return {"actions": 0, "decisions": 0, "inbound_events": 0}
    now = timezone.now()
    actions = _write(Action, _action_rows(accounts, rows, now))
    # One decision per action, at its start (a denial at its end), as the gate records them.
    decision_table = connection.ops.quote_name(ActionDecision._meta.db_table)
    action_table = connection.ops.quote_name(Action._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {decision_table} (workspace_id, action_id, at, verdict, reason, until) "  # noqa: S608
            f"SELECT workspace_id, id, COALESCE(started_at, finished_at), "
            f"CASE WHEN state = 'denied' THEN 'deny' ELSE 'allow' END, "
            f"CASE WHEN state = 'denied' THEN last_reason ELSE 'within every limit' END, NULL "
            f"FROM {action_table} WHERE account_id IN ({', '.join(['%s'] * len(accounts))}) "
            f"AND idempotency_key LIKE %s",
            [*(account.pk for account in accounts), HISTORY_KEY_PREFIX + "%"],
        )
        decisions = cursor.rowcount
    events = _write(InboundEvent, _event_rows(accounts, rows, now))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"ANALYZE {action_table}, {decision_table}, {connection.ops.quote_name(InboundEvent._meta.db_table)}"
            )
            # The seed's gigabytes written back now, not by a checkpoint in the middle of the load: a run measures
            # a history that is there, not one being flushed (commits waited seconds on the write-back otherwise).
            try:
                with transaction.atomic():
                    cursor.execute("CHECKPOINT")
            except DatabaseError as exc:  # a role without pg_checkpoint: the run goes on, noisier
                logger.warning("No CHECKPOINT after seeding the history: %s", exc)
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"actions": actions, "decisions": decisions, "inbound_events": events}
