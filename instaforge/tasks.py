"""Enqueueing django-q2 tasks: after commit, by dotted path, with JSON-safe ids."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

_local = threading.local()


def _broker() -> Broker:
    """One broker (one Redis connection pool) per thread, instead of a new connection per task."""
    broker = getattr(_local, "broker", None)
    if broker is None:
        broker = get_broker()
        _local.broker = broker
    return broker


def enqueue(func_path: str, *args: Any) -> None:
    async_task(func_path, *args, broker=_broker())


def enqueue_on_commit(func_path: str, *args: Any, robust: bool = False) -> None:
    """Enqueue once the current transaction commits (at once outside one).

    The broker only wakes workers: the database row is the record, and a
    sweeper finds work whose message was lost. ``robust``: a broker that
    fails is logged, not raised (the work is committed already).
    """
    transaction.on_commit(lambda: enqueue(func_path, *args), robust=robust)


def enqueue_with_commit(func_path: str, *args: Any, robust: bool = False) -> None:
    """Enqueue as part of the current transaction where the broker lives in the database.

    With django-q2's ORM broker the task message is a row: written inside the
    transaction, it commits (or rolls back) with the work it refers to. Redis
    cannot join the transaction, so there the message is sent after commit and
    the sweeper covers a crash in between (``robust``: a failing broker is
    logged, not raised, as the work is committed already).
    """
    if broker_joins_transactions():
        enqueue(func_path, *args)
    else:
        enqueue_on_commit(func_path, *args, robust=robust)


def broker_joins_transactions() -> bool:
    """Whether a task message is a database row that commits with the work (django-q2's ORM broker)."""
    return settings.BROKER_NAME == "orm" and not settings.Q_CLUSTER.get("sync")


# How long a coalescing flag outlives a task that never starts (a lost message): then the next enqueue sends one.
COALESCED_FLAG_SECONDS = 5


def _coalesces() -> bool:
    return settings.BROKER_NAME == "redis" and not settings.Q_CLUSTER.get("sync")


def _flag_key(flag: str) -> str:
    return f"{settings.Q_CLUSTER['name']}:queued:{flag}"


def enqueue_coalesced(func_path: str, *args: Any, flag: str, robust: bool = False) -> None:
    """As ``enqueue_with_commit``, but with Redis no second task under ``flag`` while one is queued, not started.

    For a task that takes all the work waiting, not only its arguments (``instagram.tasks.inbound_events_process``
    claims the events stored meanwhile): at hundreds of deliveries a second, one task per delivery cost the
    broker and the cluster more than the work. The flag is set (``SET NX``) after the commit; the task clears it
    when it starts, before it claims, so work committed before a skipped enqueue is claimed by the task that
    was queued. The flag expires after ``COALESCED_FLAG_SECONDS`` should that task be lost, and the sweeper
    finds what waits longer. With the ORM broker (its message commits with the work) or tasks run inline, every
    call enqueues.
    """
    if not _coalesces():
        enqueue_with_commit(func_path, *args, robust=robust)
        return

    def send() -> None:
        if _broker().connection.set(_flag_key(flag), "1", nx=True, ex=COALESCED_FLAG_SECONDS):
            enqueue(func_path, *args)

    transaction.on_commit(send, robust=robust)


def coalesced_flag_clear(flag: str) -> None:
    """Called by a coalesced task as it starts, before it takes the work: the next enqueue sends a task again."""
    if _coalesces():
        _broker().connection.delete(_flag_key(flag))


# How long items wait in Redis for a coalesced task at most (a cluster that is down): best-effort work only.
COALESCED_ITEMS_SECONDS = 3600


def _items_key(flag: str) -> str:
    return f"{settings.Q_CLUSTER['name']}:items:{flag}"


def enqueue_coalesced_items(func_path: str, items: list[str], *, flag: str, robust: bool = False) -> None:
    """As ``enqueue_coalesced`` for work that is not in the database: the items travel in a Redis list.

    After the commit the items are appended to the list under ``flag`` and a task is queued unless one is
    queued already; the task takes every item waiting with ``coalesced_items_take`` (``func_path`` is called
    with ``[]`` then). One task for a burst instead of one per item. Only for best-effort work (a new
    person's profile, read again on their next message): items of a task lost with its message wait in the
    list for the next enqueue, an hour at most. With the ORM broker or tasks run inline, every call enqueues
    ``func_path`` with its own items, as before.
    """
    if not items:
        return
    if not _coalesces():
        enqueue_with_commit(func_path, items, robust=robust)
        return

    def send() -> None:
        pipeline = _broker().connection.pipeline()
        pipeline.rpush(_items_key(flag), *items)
        pipeline.expire(_items_key(flag), COALESCED_ITEMS_SECONDS)
        pipeline.set(_flag_key(flag), "1", nx=True, ex=COALESCED_FLAG_SECONDS)
        if pipeline.execute()[-1]:
            enqueue(func_path, [])

    transaction.on_commit(send, robust=robust)


def coalesced_items_take(flag: str, given: list[str]) -> list[str]:
    """In a task of ``enqueue_coalesced_items``: the flag cleared, then ``given`` and every item waiting, once each.

    Cleared before the items are taken: an item appended after this take finds no flag and queues a task.
    """
    if not _coalesces():
        return list(dict.fromkeys(given))
    connection = _broker().connection
    connection.delete(_flag_key(flag))
    pipeline = connection.pipeline()  # MULTI: the items read and the list emptied at once
    pipeline.lrange(_items_key(flag), 0, -1)
    pipeline.delete(_items_key(flag))
    waiting = [item.decode() if isinstance(item, bytes) else str(item) for item in pipeline.execute()[0]]
    return list(dict.fromkeys([*given, *waiting]))
