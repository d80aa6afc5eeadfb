"""Enqueueing django-q2 tasks: after commit, by dotted path, with JSON-safe ids."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django_q.tasks import async_task


def enqueue(func_path: str, *args: Any) -> None:
    async_task(func_path, *args)


def enqueue_on_commit(func_path: str, *args: Any) -> None:
    """Enqueue once the current transaction commits (at once outside one).

    The broker only wakes workers: the database row is the record, and a
    sweeper finds work whose message was lost.
    """
    transaction.on_commit(lambda: enqueue(func_path, *args))
