"""Exact counting of the shared scopes (the platform, a workspace) under concurrent dispatchers.

Why counter rows and fixed windows: limits shared by many accounts cannot be
protected by an account's row lock, and counting the ledger then writing
would let two dispatchers both take the last slot. Each scope and window has
one ``SafetyCounter`` row; an action's slots are taken by one conditional
``UPDATE … SET count = count + 1 WHERE count < limit`` over their rows. On
PostgreSQL the statement locks the rows until commit, in one fixed order
(scope, then window: no deadlock), and re-checks the condition after waiting;
on SQLite writers are serialised: either way two dispatchers never take the
same slot. The update runs in the transaction that marks the action
``sending``, so a rolled-back claim gives its slot back. Windows are fixed
(aligned on the UTC hour and day) so each one is a single row; the deferral
says when the window resets, which is when a slot frees.

Per-account limits are counted on the ledger under the account's row lock
instead (``safety.gate``): they are exact too, and sliding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F

from safety.models import SafetyCounter

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class CounterSlot:
    scope: str
    window: str
    window_start: datetime
    limit: int
    what: str  # for the deferral message, e.g. "platform hourly limit"

    @property
    def resets_at(self) -> datetime:
        return self.window_start + WINDOWS[self.window]


def window_start(now: datetime, window: str) -> datetime:
    utc = now.astimezone(UTC)
    if window == "hour":
        return utc.replace(minute=0, second=0, microsecond=0)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def _take_all(slots: list[CounterSlot], units: int) -> set[tuple[str, str]]:
    """One statement: take ``units`` of every slot that has room for them; returns the (scope, window) of those taken.

    The rows are locked in one order (scope, window) by every dispatcher (``FOR
    UPDATE`` in the sub-select, PostgreSQL; SQLite serialises writers), so
    transactions waiting on each other's rows cannot deadlock; a row another
    transaction holds is re-checked against its limit once that one commits.
    """
    table, quote = SafetyCounter._meta.db_table, connection.ops.quote_name
    one = f"{quote('scope')} = %s AND {quote('window')} = %s AND {quote('window_start')} = %s"
    match = " OR ".join(f"({one} AND {quote('count')} <= %s)" for _ in slots)
    params: list[Any] = []
    for slot in slots:
        start = connection.ops.adapt_datetimefield_value(slot.window_start)
        params += [slot.scope, slot.window, start, slot.limit - units]  # room for ``units`` more
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"UPDATE {quote(table)} SET {quote('count')} = {quote('count')} + %s WHERE {quote('id')} IN "  # noqa: S608
        f"(SELECT {quote('id')} FROM {quote(table)} WHERE {match} ORDER BY {quote('scope')}, {quote('window')}{lock}) "
        f"RETURNING {quote('scope')}, {quote('window')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [units, *params])
        return {(scope, window) for scope, window in cursor.fetchall()}


def _take_all_or_none(slots: list[CounterSlot], units: int) -> set[tuple[str, str]] | None:
    """``_take_all`` in a savepoint: None when every slot was taken; else those that had room, with nothing kept.

    Rolling back to the savepoint gives the units back and releases the rows'
    locks (PostgreSQL): this transaction then holds no counter row while it
    creates a new window's rows. Holding some while inserting others could
    deadlock with a dispatcher that inserted first and waits for those rows.
    """
    with transaction.atomic():  # a savepoint inside the caller's transaction
        taken = _take_all(slots, units)
        if len(taken) == len(slots):
            return None
        transaction.set_rollback(True)  # leaving the block rolls back to the savepoint
    return taken


def counters_take(*, slots: list[CounterSlot], units: int = 1) -> CounterSlot | None:
    """Take ``units`` of every slot, all or none. Returns the first slot without room, or None when all were taken.

    Must run inside the transaction that records the action as sending. One
    statement in a savepoint when every window's row exists; a new window's
    rows are created, then it runs once more.
    """
    for slot in slots:
        if slot.limit < units:
            return slot
    if not slots:
        return None
    taken = _take_all_or_none(slots, units)
    if taken is None:
        return None
    # A row may be missing (a new hour or day): create the windows' rows, in the order every statement
    # locks them, then try once more.
    ordered = sorted(slots, key=lambda slot: (slot.scope, slot.window))
    SafetyCounter.objects.bulk_create(
        [SafetyCounter(scope=s.scope, window=s.window, window_start=s.window_start, count=0) for s in ordered],
        ignore_conflicts=True,
    )
    taken = _take_all_or_none(slots, units)
    if taken is None:
        return None
    return next(slot for slot in slots if (slot.scope, slot.window) not in taken)


def counters_give_back(*, slots: list[CounterSlot], units: int = 1) -> None:
    """Give back ``units`` of every slot taken for a call that never happened (never below zero).

    The rows are updated in the order every ``counters_take`` locks them (scope, then window): no deadlock.
    """
    for slot in sorted(slots, key=lambda slot: (slot.scope, slot.window)):
        SafetyCounter.objects.filter(
            scope=slot.scope, window=slot.window, window_start=slot.window_start, count__gte=units
        ).update(count=F("count") - units)


def counters_prune(*, now: datetime) -> int:
    """Delete counters of windows that ended more than a day ago."""
    deleted, _ = SafetyCounter.objects.filter(window_start__lt=now - timedelta(days=2)).delete()
    return deleted
