from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import Failure


def failed_tasks_prune(days: int = 14) -> int:
    """Delete failed-task records older than ``days``."""
    deleted, _ = Failure.objects.filter(stopped__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
