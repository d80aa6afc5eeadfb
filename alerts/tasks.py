"""django-q2 tasks of alerts: thin and idempotent."""

from __future__ import annotations

from alerts.services import alerts_sweep


def alerts_sweep_task() -> dict[str, int]:
    """Every minute: evaluate the conditions, open and resolve alerts, send the notifications not sent yet."""
    return alerts_sweep()
