from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_q.models import Failure


def failed_tasks_prune(days: int = 14) -> int:
    """Delete failed-task records older than ``days``."""
    deleted, _ = Failure.objects.filter(stopped__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted


def database_vacuum() -> bool:
    """On PostgreSQL, ``VACUUM ANALYZE`` the whole database (outside any transaction). Returns whether it ran.

    The benchmarks call it after deleting their previous run's rows, so each
    run starts from the same state: on a server with autovacuum off (as on
    the machines this project is built on) the dead rows of earlier runs stay
    in every scan's way, and the gate's ledger read took 4 ms instead of a
    fraction of one.
    """
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return True
