"""django-q2 tasks of the warm-up: thin wrappers over services."""

from __future__ import annotations

from warmup.services import warmup_days_advance


def warmup_days_advance_due() -> dict[str, int]:
    """Every few minutes: advance each warming-up account whose local date has moved on (idempotent)."""
    return warmup_days_advance()
