"""The 7-day warm-up of an account: its plan, each local day's drawn target, and the history of its steps.

The account's lifecycle state (``WARMUP_DAY_1`` … ``WARMUP_DAY_7``, ``ACTIVE``)
is the record of which day it is on; the plan records when the current day
began in the account's own time zone and why each step was taken.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class PlanStatus(models.TextChoices):
    RUNNING = "running", "Warming up"
    COMPLETED = "completed", "Completed"
    SKIPPED = "skipped", "Skipped by an operator"


class WarmupPlan(WorkspaceOwned):
    account = models.OneToOneField("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="warmup_plan")
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    started_on = models.DateField(help_text="The local date of day 1.")
    day_local_date = models.DateField(
        help_text="The local date on which the current day began; the next local midnight after it is the next step."
    )
    extensions_pending = models.PositiveSmallIntegerField(
        default=0, help_text="Days an operator added: the next midnights repeat the current day."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(WorkspaceOwned.Meta):
        verbose_name = "warm-up plan"
        verbose_name_plural = "warm-up plans"
        constraints = [
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="warmup_plan_status_valid")
        ]
        indexes = [models.Index(fields=["status"], name="warmup_plan_status_idx")]

    def __str__(self) -> str:
        return f"warm-up of account {self.account_id} ({self.status})"


class WarmupDay(WorkspaceOwned):
    """One local date of the warm-up: which day the account was on and its drawn action target."""

    plan = models.ForeignKey(WarmupPlan, on_delete=models.CASCADE, related_name="days")
    local_date = models.DateField()
    day = models.PositiveSmallIntegerField()
    phase = models.CharField(max_length=40)
    target = models.PositiveIntegerField(help_text="Drawn from the phase's actions_per_day range.")

    class Meta(WorkspaceOwned.Meta):
        verbose_name = "warm-up day"
        verbose_name_plural = "warm-up days"
        constraints = [
            models.UniqueConstraint(fields=["plan", "local_date"], name="warmup_day_unique_date"),
            models.CheckConstraint(condition=Q(day__gte=1, day__lte=7), name="warmup_day_in_range"),
        ]
        ordering = ["local_date"]

    def __str__(self) -> str:
        return f"day {self.day} on {self.local_date}: {self.target} actions"


class EventKind(models.TextChoices):
    START = "start", "Started"
    ADVANCE = "advance", "Advanced"
    HOLD = "hold", "Held on the day"
    STEP_BACK = "step_back", "Stepped back"
    EXTEND = "extend", "Extended"
    RESTART = "restart", "Restarted"
    SKIP = "skip", "Skipped"
    COMPLETE = "complete", "Completed"


class WarmupEvent(WorkspaceOwned):
    """One step of the warm-up, with who or what caused it and why (the audit trail)."""

    plan = models.ForeignKey(WarmupPlan, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    local_date = models.DateField(help_text="The account's local date the step belongs to.")
    kind = models.CharField(max_length=10, choices=EventKind.choices)
    from_day = models.PositiveSmallIntegerField(null=True, blank=True)
    to_day = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: the account is active.")
    health_hold = models.BooleanField(default=False, help_text="Held or stepped back because of the account's health.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True, default="")

    class Meta(WorkspaceOwned.Meta):
        verbose_name = "warm-up event"
        verbose_name_plural = "warm-up events"
        constraints = [models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="warmup_event_kind_valid")]
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.local_date}"
