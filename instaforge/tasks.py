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
