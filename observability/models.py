"""Heartbeats: each dispatcher, worker and the schedules runner records that it is alive."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class HeartbeatRole(models.TextChoices):
    DISPATCHER = "dispatcher", "Dispatcher"
    WORKER = "worker", "Worker (django-q2)"
    SCHEDULER = "scheduler", "Schedules runner (django-q2's scheduler and a worker)"


class Heartbeat(models.Model):
    """The last time one process (``host:pid``) of a role said it was alive. Platform-wide, no workspace."""

    role = models.CharField(max_length=20, choices=HeartbeatRole.choices)
    name = models.CharField(max_length=200, help_text="host:pid of the process.")
    beat_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["role", "name"], name="heartbeat_role_name_unique")]
        indexes = [models.Index(fields=["role", "beat_at"], name="heartbeat_role_beat_idx")]

    def __str__(self) -> str:
        return f"{self.role} {self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
