"""Waking an idle dispatcher when work falls due, instead of leaving it to the next poll.

Why: an idle dispatcher looks for due actions every ``DISPATCHER_POLL_SECONDS``, so an answer planned
due now waited for that poll (a quarter of a second on average at the default 0.5 s) before it was even
claimed: most of an idle machine's reply time (issue 23).

How (docs/performance.md, "Waking the dispatcher"):

- The writer. Whoever plans an action due within the poll interval calls ``wake_notify(due=…)`` inside
  its transaction. One wake-up goes out per transaction, after it commits (``transaction.on_commit``: a
  dispatcher woken earlier would not see the rows yet), carrying the earliest due time planned; a
  transaction that plans hundreds of actions sends one. An action due later than the poll interval sends
  none: the polls find it as before.
- PostgreSQL: the wake-up is ``NOTIFY instaforge_actions, '<due, seconds since the epoch>'``, whatever the
  broker (the database is the one thing every process of a deployment shares). Each dispatcher's
  ``Waiter`` keeps one more connection, in a thread of its own, that ``LISTEN``s on the channel.
- Every database: the waiters of the writer's own process are woken directly. SQLite has no notification
  between processes: a dispatcher in another process finds the work at its next poll, as before.
- The fallback: ``Waiter.wait`` returns after the poll interval whether or not anything woke it, so
  nothing depends on a notification arriving. A listener whose connection drops logs once, reconnects
  with a growing pause, and looks once after reconnecting (a wake-up sent meanwhile is lost).
- A wake-up due in the future (a human delay shorter than the poll interval) is kept by each waiter and
  wakes the dispatcher when it falls due, not before: the claim takes only what is due.

Several dispatchers are all woken; the claim (``FOR UPDATE SKIP LOCKED``) shares the work among them as
it does after a poll.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

CHANNEL = "instaforge_actions"
# How often a waiting dispatcher looks at its stop event between wake-ups (it has two things to wait for
# and threading has no wait on two events): the most a stop waits, at ten wake-ups a second when idle.
STOP_CHECK_SECONDS = 0.1
# Due times a waiter keeps at most; beyond them the poll finds the work.
KEPT_DUES = 1024
# How long the listener's thread blocks on its connection between looks at whether it should stop.
LISTEN_SLICE_SECONDS = 0.5
RECONNECT_FIRST_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0

_registry_lock = threading.Lock()
_waiters: set[Waiter] = set()


def wake_enabled() -> bool:
    return bool(settings.DISPATCHER_WAKE)


def wake_notify(*, due: datetime | None = None) -> None:
    """Wake the dispatchers once this transaction commits, if ``due`` (default: now) is within the poll interval.

    Call it where an action is planned (or made due) soon. Many calls in one transaction send one wake-up,
    with the earliest due time; outside a transaction it is sent at once. A rolled-back transaction sends
    nothing (its callbacks are dropped with it).
    """
    if not wake_enabled():
        return
    now = timezone.now()
    due = due or now
    if due > now + timedelta(seconds=settings.DISPATCHER_POLL_SECONDS):
        return  # the polls find it in time
    at = due.timestamp()
    pending = _pending_of_this_transaction()
    if pending is not None:
        pending.due = min(pending.due, at)
        return
    transaction.on_commit(_Pending(due=at).send)


class _Pending:
    """The one wake-up of a transaction: sent after it commits, with the earliest due time planned in it."""

    def __init__(self, *, due: float) -> None:
        self.due = due

    def send(self) -> None:
        wake_local(due=self.due)
        if connection.vendor != "postgresql":
            return
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, repr(self.due)])
        except DatabaseError as exc:  # the plan is committed: a lost wake-up costs one poll, never the plan
            logger.warning("Could not wake the dispatchers (they will find the work at their next poll): %s", exc)


def _pending_of_this_transaction() -> _Pending | None:
    """The wake-up this transaction already registered, if any: the new one rides on it.

    Django keeps each ``on_commit`` callback with the savepoints open when it was registered and drops it
    when one of those rolls back. A savepoint released since can no longer roll back, and one still open
    is open here too: so the earlier wake-up is dropped only in cases where a new one would be dropped as
    well (at worst a rolled-back plan leaves it an earlier due time: one look too many).
    """
    if not connection.in_atomic_block:
        return None
    for entry in connection.run_on_commit:  # (savepoint ids, callback, robust)
        owner = getattr(entry[1], "__self__", None)
        if isinstance(owner, _Pending):
            return owner
    return None


def wake_local(*, due: float | None = None) -> None:
    """Wake the waiters of this process (tests, SQLite, and PostgreSQL's writer and dispatcher in one process)."""
    at = time.time() if due is None else due
    with _registry_lock:
        waiters = list(_waiters)
    for waiter in waiters:
        waiter.wake(due=at)


class Waiter:
    """What an idle dispatcher waits on: a wake-up, its stop event, or the poll interval, whichever comes first.

    With ``listen`` (default: ``DISPATCHER_WAKE`` on PostgreSQL) a thread holds a connection that
    ``LISTEN``s for the writers' wake-ups; otherwise only this process's writers wake it.
    """

    def __init__(self, *, listen: bool | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._dues: list[float] = []
        self._closed = threading.Event()
        self.listening = threading.Event()  # set while the listener's connection is up (tests wait on it)
        self.listener_pid: int | None = None  # its PostgreSQL backend's pid
        self._thread: threading.Thread | None = None
        if listen is None:
            listen = wake_enabled() and connection.vendor == "postgresql"
        with _registry_lock:
            _waiters.add(self)
        if listen:
            params = _listener_params()
            self._thread = threading.Thread(target=self._listen, args=(params,), name="dispatcher-wake", daemon=True)
            self._thread.start()

    def wake(self, *, due: float) -> None:
        with self._lock:
            if len(self._dues) < KEPT_DUES:
                heapq.heappush(self._dues, due)
        self._event.set()

    def wait(self, *, stop: threading.Event, timeout: float) -> bool:
        """Wait until work may be due: True when woken (a due time reached), False on ``stop`` or the timeout."""
        deadline = time.monotonic() + timeout
        while not stop.is_set():
            now = time.time()
            with self._lock:
                woken = False
                while self._dues and self._dues[0] <= now:
                    heapq.heappop(self._dues)
                    woken = True
                next_due = self._dues[0] if self._dues else None
            if woken:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            pause = min(remaining, STOP_CHECK_SECONDS)
            if next_due is not None:
                pause = min(pause, next_due - now)
            if self._event.wait(pause):
                self._event.clear()  # a wake() pushes before it sets: the next look sees its due time
        return False

    def close(self) -> None:
        with _registry_lock:
            _waiters.discard(self)
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=LISTEN_SLICE_SECONDS * 4)

    def _listen(self, params: dict[str, Any]) -> None:
        """Hold a ``LISTEN`` connection until closed; reconnect after a drop (logged once per outage)."""
        pause = RECONNECT_FIRST_SECONDS
        failing = False
        while not self._closed.is_set():
            try:
                with psycopg.connect(**params, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listener_pid = conn.info.backend_pid
                    self.listening.set()
                    if failing:
                        logger.info("Dispatcher wake-ups: listening again")
                        failing = False
                    pause = RECONNECT_FIRST_SECONDS
                    self.wake(due=time.time())  # a wake-up sent while it was down is lost: look once
                    while not self._closed.is_set():
                        for notify in conn.notifies(timeout=LISTEN_SLICE_SECONDS):
                            self.wake(due=_due_of(notify.payload))
            except Exception as exc:  # never crash the dispatcher: the poll goes on meanwhile
                self.listening.clear()
                if not failing:
                    logger.warning(
                        "Dispatcher wake-ups lost (%s); polling every %ss and reconnecting",
                        exc,
                        settings.DISPATCHER_POLL_SECONDS,
                    )
                    failing = True
                self._closed.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)
        self.listening.clear()


def _listener_params() -> dict[str, Any]:
    """The default database's connection parameters as psycopg takes them, without Django's cursor and adapters."""
    params = connections["default"].get_connection_params()
    for django_only in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(django_only, None)
    return params


def _due_of(payload: str) -> float:
    """A wake-up's due time; one that cannot be read wakes at once (a look too many costs one claim)."""
    try:
        return float(payload)
    except ValueError:
        return time.time()
