"""django-q2 tasks of alerts: thin and idempotent."""

from __future__ import annotations

from alerts.services import alerts_sweep
from observability.models import HeartbeatRole
from observability.services import heartbeat_beat


def alerts_sweep_task() -> dict[str, int]:
    """Every minute: evaluate the conditions, open and resolve alerts, send the notifications not sent yet.

    It runs only when django-q2's scheduler schedules it, so it first says the schedules runner is alive: at a
    fresh start the sweep may come before the heartbeat's own schedule has run, and would otherwise report the
    runner that is running it as missing.
    """
    heartbeat_beat(role=HeartbeatRole.SCHEDULER, force=True)  # once a minute: no need to skip a write
    return alerts_sweep()
