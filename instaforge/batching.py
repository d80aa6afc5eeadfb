"""Reads shared by the events one task handles together (the batched inbound path, docs/performance.md).

A task of the batched inbound path (``instagram.tasks.inbound_events_process``) handles up to
``INBOUND_BATCH_SIZE`` events in a few tens of milliseconds. The configuration each event reads (an account's
comment rules and settings, a workspace's DM settings, rules and flows, its CRM endpoints) is the same for all
of them: read once per batch (``batch_read``) instead of once per event. A change saved meanwhile applies from
the next batch, as it would to an event handled a moment earlier. Outside a batch (a view, a test, a task of
another kind) ``batch_read`` reads every time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_reads: ContextVar[dict[Hashable, Any] | None] = ContextVar("batch_reads", default=None)


@contextmanager
def batch_reads() -> Iterator[None]:
    """Within the block, ``batch_read`` keeps what it read (nested blocks share the outer one's)."""
    if _reads.get() is not None:
        yield
        return
    token = _reads.set({})
    try:
        yield
    finally:
        _reads.reset(token)


def batch_read(key: Hashable, load: Callable[[], T]) -> T:
    """``load()``, once per batch for ``key`` when a batch is being handled; every time otherwise.

    ``key`` names what is read and for whom (``("dm_rules", account_id)``); ``load`` must return something
    the callers only read (a list, not a lazy queryset).
    """
    reads = _reads.get()
    if reads is None:
        return load()
    if key not in reads:
        reads[key] = load()
    return reads[key]
