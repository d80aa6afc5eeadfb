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

This module describes the slots; the statements that take, give back and
prune them are writes, in ``safety.services`` (``counters_take``, …).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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
