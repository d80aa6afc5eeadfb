"""Every django-q2 schedule the product needs, declared in code.

``python manage.py schedules_sync`` creates, updates and removes schedules so
the database matches this registry; ``make up`` runs it on every start.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_q.models import Schedule


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    func: str
    schedule_type: str
    minutes: int | None = None


SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec(
        "instagram: sweep inbound events", "instagram.tasks.inbound_events_sweep", Schedule.MINUTES, minutes=1
    ),
    ScheduleSpec("django-q: prune failed tasks", "instaforge.maintenance.failed_tasks_prune", Schedule.DAILY),
    ScheduleSpec("accounts: refresh tokens", "accounts.tasks.tokens_refresh", Schedule.DAILY),
    ScheduleSpec(
        "instagram: backfill missed webhooks", "instagram.tasks.missed_webhooks_backfill", Schedule.MINUTES, minutes=10
    ),
    ScheduleSpec("warmup: advance days", "warmup.tasks.warmup_days_advance_due", Schedule.MINUTES, minutes=5),
    ScheduleSpec("messaging: resume delayed flows", "messaging.tasks.flow_runs_resume", Schedule.MINUTES, minutes=1),
    ScheduleSpec(
        "integrations: retry webhook deliveries",
        "integrations.tasks.webhook_deliveries_retry_task",
        Schedule.MINUTES,
        minutes=1,
    ),
    # Every minute: evaluates the alert conditions, opens and resolves alerts, sends their notifications.
    ScheduleSpec("alerts: sweep", "alerts.tasks.alerts_sweep_task", Schedule.MINUTES, minutes=1),
    # Every minute: proves the scheduler and a worker alive (readiness, metrics), prunes old heartbeats.
    ScheduleSpec("observability: heartbeat", "observability.tasks.schedules_heartbeat", Schedule.MINUTES, minutes=1),
    # Every 5 minutes: Meta's data deletion requests still pending 5 minutes after they came (a failed or lost task).
    ScheduleSpec(
        "privacy: retry data deletion requests",
        "privacy.tasks.deletion_requests_retry_task",
        Schedule.MINUTES,
        minutes=5,
    ),
    # Hourly: deletes what is older than its retention period, in batches, for at most RETENTION_MAX_SECONDS
    # (docs/features/data-lifecycle.md, "Retention").
    ScheduleSpec("privacy: prune by retention", "privacy.retention.retention_prune_task", Schedule.HOURLY),
    # Hourly: a reading of Meta's insights for each connected account not read for 6 hours, when its usage allows
    # (analytics/insights.py; docs/features/analytics.md, "Meta's insights").
    ScheduleSpec("analytics: refresh insights", "analytics.tasks.insights_refresh_schedule", Schedule.HOURLY),
)

MANAGED_PREFIXES = (
    "instagram:",
    "django-q:",
    "accounts:",
    "actions:",
    "safety:",
    "engagement:",
    "messaging:",
    "warmup:",
    "publishing:",
    "integrations:",
    "observability:",
    "alerts:",
    "privacy:",
    "analytics:",
)


def schedules_sync() -> list[str]:
    """Make the stored schedules match ``SCHEDULES``. Returns a line per change."""
    changes: list[str] = []
    wanted = {spec.name: spec for spec in SCHEDULES}
    for spec in SCHEDULES:
        _, created = Schedule.objects.update_or_create(
            name=spec.name,
            defaults={"func": spec.func, "schedule_type": spec.schedule_type, "minutes": spec.minutes, "repeats": -1},
        )
        changes.append(f"{'created' if created else 'kept'}: {spec.name}")
    for stale in Schedule.objects.exclude(name__in=wanted):
        if stale.name and stale.name.startswith(MANAGED_PREFIXES):
            changes.append(f"removed: {stale.name}")
            stale.delete()
    return changes
