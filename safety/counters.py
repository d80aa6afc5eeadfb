"""Exact counting of the shared scopes (the platform, a workspace) under concurrent dispatchers.

Why counter rows and fixed windows: limits shared by many accounts cannot be
protected by an account's row lock, and counting the ledger then writing
would let two dispatchers both take the last slot. Each scope and window has
one ``SafetyCounter`` row; a slot is taken by one conditional
``UPDATE … SET count = count + 1 WHERE count < limit``. On PostgreSQL the
update locks the row until commit and re-checks the condition after waiting,
on SQLite writers are serialised: either way two dispatchers never take the
same slot. The update runs in the transaction that marks the action
``sending``, so a rolled-back claim gives its slot back. Windows are fixed
(aligned on the UTC hour and day) so each one is a single row; the deferral
says when the window resets, which is when a slot frees.

Counters are taken in one fixed order (workspace before platform, hour before
day), so transactions waiting on each other's rows cannot deadlock; the
platform's rows, which every dispatcher takes, come last and are held for the
shortest time.
Per-account limits are counted on the ledger under the account's row lock
instead (``safety.gate``): they are exact too, and sliding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def _take(slot: CounterSlot) -> bool:
    if slot.limit <= 0:
        return False
    row = SafetyCounter.objects.filter(scope=slot.scope, window=slot.window, window_start=slot.window_start)
    if row.filter(count__lt=slot.limit).update(count=F("count") + 1):
        return True
    # No row yet for this window (or it is full): create it if missing, then try once more.
    SafetyCounter.objects.bulk_create(
        [SafetyCounter(scope=slot.scope, window=slot.window, window_start=slot.window_start, count=0)],
        ignore_conflicts=True,
    )
    return bool(row.filter(count__lt=slot.limit).update(count=F("count") + 1))


def _give_back(slot: CounterSlot) -> None:
    SafetyCounter.objects.filter(
        scope=slot.scope, window=slot.window, window_start=slot.window_start, count__gt=0
    ).update(count=F("count") - 1)


def counters_take(*, slots: list[CounterSlot]) -> CounterSlot | None:
    """Take one unit of every slot, all or none. Returns the first full slot, or None when all were taken.

    Must run inside the transaction that records the action as sending.
    """
    taken: list[CounterSlot] = []
    for slot in slots:
        if not _take(slot):
            for done in taken:  # rows we updated are still locked by us: giving back is exact
                _give_back(done)
            return slot
        taken.append(slot)
    return None


def counters_prune(*, now: datetime) -> int:
    """Delete counters of windows that ended more than a day ago."""
    deleted, _ = SafetyCounter.objects.filter(window_start__lt=now - timedelta(days=2)).delete()
    return deleted
