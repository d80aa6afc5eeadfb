"""Heartbeat writes: a process says it is alive, at most every few seconds; old rows are pruned."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django_q.signals import pre_execute

from observability.models import Heartbeat, HeartbeatRole

logger = logging.getLogger(__name__)

# A process writes its heartbeat at most this often, however often it is asked to.
HEARTBEAT_EVERY_SECONDS = 5.0
# Rows of processes gone for this long are deleted (a restarted process has a new pid, hence a new row).
HEARTBEAT_KEEP = timedelta(days=1)

_last_beats: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_beat(*, role: str, name: str | None = None, now: datetime | None = None, force: bool = False) -> bool:
    """Record that this process (``name``, default ``host:pid``) of ``role`` is alive. Returns whether it wrote.

    At most one write per ``HEARTBEAT_EVERY_SECONDS`` per process and role (unless ``force``), so a caller
    on a hot path (each task a worker runs) costs a clock read most of the time.
    """
    name = name or process_name()
    key = (role, name)
    with _lock:
        last = _last_beats.get(key)
        if not force and last is not None and time.monotonic() - last < HEARTBEAT_EVERY_SECONDS:
            return False
        _last_beats[key] = time.monotonic()
    now = now or timezone.now()
    if not Heartbeat.objects.filter(role=role, name=name).update(beat_at=now):
        Heartbeat.objects.update_or_create(role=role, name=name, defaults={"beat_at": now})
    return True


def heartbeats_prune(*, now: datetime | None = None) -> int:
    """Delete the heartbeats of processes silent for longer than ``HEARTBEAT_KEEP``. Returns how many."""
    now = now or timezone.now()
    deleted, _ = Heartbeat.objects.filter(beat_at__lt=now - HEARTBEAT_KEEP).delete()
    return deleted


def worker_task_started(sender: Any, **kwargs: Any) -> None:
    """django-q2's ``pre_execute``: each task a worker starts says the worker is alive (at most every few seconds)."""
    try:
        heartbeat_beat(role=HeartbeatRole.WORKER)
    except Exception:  # a heartbeat never stops a task
        logger.warning("The worker's heartbeat could not be written", exc_info=True)


def worker_signals_connect() -> Callable[..., None]:
    """Connect ``worker_task_started`` to django-q2's ``pre_execute`` (sent in the worker process). Returns it."""
    pre_execute.connect(worker_task_started, dispatch_uid="observability.worker_heartbeat", weak=False)
    return worker_task_started


# Webhook deliveries InstaForge did not take (a bad signature, a malformed body, an error: Meta retries them and
# disables the subscription after about an hour of failures), tallied in the shared cache per 5-minute bucket
# so that every web process adds to the same figure and the alerts' sweep can read it.
WEBHOOK_REFUSALS_BUCKET_SECONDS = 300
WEBHOOK_REFUSALS_KEEP_SECONDS = 2 * 3600


def webhook_refusals_key(bucket: int) -> str:
    return f"observability:webhook-refusals:{bucket}"


def webhook_refusal_record(*, now: datetime | None = None) -> None:
    """Count one refused webhook delivery. Never raises: a cache problem must not change the answer to Meta."""
    moment = (now or timezone.now()).timestamp()
    key = webhook_refusals_key(int(moment // WEBHOOK_REFUSALS_BUCKET_SECONDS))
    try:
        cache.add(key, 0, timeout=WEBHOOK_REFUSALS_KEEP_SECONDS)
        cache.incr(key)
    except Exception:  # a missing key (expired between the two calls) or an unreachable cache
        logger.warning("Could not count a refused webhook delivery", exc_info=True)
