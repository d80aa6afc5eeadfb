"""The schedules runner's heartbeat: a schedule that runs every minute proves the scheduler and a worker alive."""

from __future__ import annotations

from observability.models import HeartbeatRole
from observability.services import heartbeat_beat, heartbeats_prune


def schedules_heartbeat() -> int:
    """Beat for the scheduler (django-q2 ran this schedule) and prune old heartbeats. Returns how many went."""
    heartbeat_beat(role=HeartbeatRole.SCHEDULER, force=True)
    return heartbeats_prune()
