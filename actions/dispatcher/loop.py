"""The dispatcher's loop: one pass claims and gates due actions and hands the allowed ones to the senders."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from actions.dispatcher.claim import actions_claim_and_gate
from actions.dispatcher.recovery import actions_reconcile_unknown, leases_recover
from actions.dispatcher.sending import SEND_THREADS, Senders
from actions.dispatcher.wake import Waiter
from observability.models import HeartbeatRole
from observability.services import heartbeat_beat
from safety.services import safety_housekeep

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def dispatch_once(
    *, worker_id: str, now: datetime | None = None, limit: int = 20, senders: Senders | None = None
) -> int:
    """One pass: claim due actions, gate them, send the allowed ones. Returns how many were claimed.

    The due actions are claimed and gated together (``actions_claim_and_gate``);
    their sends run in the pool while the dispatcher's thread claims and gates
    the next ones, and no more is claimed than the pool can take.

    Without ``senders`` (tests, one-off runs) the same path runs with a pool of
    one sender in this thread that takes one action at a time
    (``Senders.inline``): each due action is claimed, gated, sent and its
    outcome written before the next is claimed (so an answer's consequences,
    such as a backoff or a regain time, apply to the next), up to ``limit``;
    everything is flushed before it returns.
    """
    if senders is not None:
        return _dispatch_pass(worker_id=worker_id, now=now, limit=limit, senders=senders)
    now = now or timezone.now()
    inline = Senders.inline()
    claimed = 0
    try:
        while claimed < limit:
            count = _dispatch_pass(worker_id=worker_id, now=now, limit=limit - claimed, senders=inline)
            inline.flush()
            if count == 0:
                break
            claimed += count
    finally:
        inline.close()
    return claimed


def _dispatch_pass(*, worker_id: str, now: datetime | None, limit: int, senders: Senders) -> int:
    now = now or timezone.now()
    free = senders.free()
    if free < min(limit, senders.batch):
        # Busy: claim again once a batch's worth of room is free, not one action at a time (most of what
        # a claim and its gate cost is per statement, not per action).
        senders.wait_for_one()
        return 1  # busy, not idle: come back at once
    count, allowed = actions_claim_and_gate(worker_id=worker_id, now=now, limit=min(limit, free))
    # Handed over in the order they fell due (the gate went account by account): a typing indicator
    # planned before its DM starts first when both were overdue in the same pass.
    for action in sorted(allowed, key=lambda action: (action.due_at, action.pk)):
        senders.submit(action, worker_id=worker_id)
    return count


def dispatcher_run(
    *,
    stop: threading.Event,
    worker_id: str | None = None,
    poll_seconds: float | None = None,
    send_threads: int = SEND_THREADS,
) -> None:
    """Run until ``stop`` is set. Housekeeping (leases, reconciliation, the safety engine's) every few seconds."""
    worker_id = worker_id or worker_name()
    poll = settings.DISPATCHER_POLL_SECONDS if poll_seconds is None else poll_seconds
    next_housekeeping = 0.0
    senders = Senders(threads=send_threads)
    # Idle, it waits for a wake-up (work planned due soon) or the poll interval, whichever comes first.
    waiter = Waiter()
    logger.info("Dispatcher %s started", worker_id)
    try:
        while not stop.is_set():
            try:
                if time.monotonic() >= next_housekeeping:
                    close_old_connections()
                    leases_recover(now=timezone.now())
                    actions_reconcile_unknown(worker_id=worker_id, now=timezone.now())
                    safety_housekeep(now=timezone.now())
                    heartbeat_beat(role=HeartbeatRole.DISPATCHER)  # /readyz and /metrics: this dispatcher is alive
                    next_housekeeping = time.monotonic() + 5
                if dispatch_once(worker_id=worker_id, senders=senders) == 0:
                    waiter.wait(stop=stop, timeout=poll)
            except Exception:
                logger.exception("Dispatcher pass failed; retrying")
                close_old_connections()
                stop.wait(max(poll, 1.0))
    finally:
        waiter.close()
        senders.close()
        connection.close()  # a thread's connection is its own: give it back
    logger.info("Dispatcher %s stopped", worker_id)
