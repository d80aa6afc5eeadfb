"""Heartbeat reads: how long ago each role last said it was alive (the newest of its processes)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Max
from django.utils import timezone

from observability.models import Heartbeat, HeartbeatRole
from observability.services import WEBHOOK_REFUSALS_BUCKET_SECONDS, webhook_refusals_key


def heartbeats_latest() -> dict[str, datetime | None]:
    """The newest heartbeat of each role (None: no process of that role has ever beaten, or not for a day)."""
    latest: dict[str, datetime | None] = dict.fromkeys(HeartbeatRole.values)
    for row in Heartbeat.objects.values("role").annotate(latest=Max("beat_at")):
        latest[row["role"]] = row["latest"]
    return latest


def heartbeat_ages(*, now: datetime | None = None) -> dict[str, float | None]:
    """Seconds since each role's newest heartbeat (None: never)."""
    now = now or timezone.now()
    return {
        role: None if beat is None else max(0.0, (now - beat).total_seconds())
        for role, beat in heartbeats_latest().items()
    }


def webhook_refusals_recent(*, window: timedelta, now: datetime | None = None) -> int:
    """Webhook deliveries refused within about ``window`` (whole 5-minute buckets, the current one included)."""
    last = int((now or timezone.now()).timestamp() // WEBHOOK_REFUSALS_BUCKET_SECONDS)
    buckets = max(1, int(window.total_seconds() // WEBHOOK_REFUSALS_BUCKET_SECONDS))
    counts = cache.get_many([webhook_refusals_key(bucket) for bucket in range(last - buckets + 1, last + 1)])
    return sum(int(count) for count in counts.values())
