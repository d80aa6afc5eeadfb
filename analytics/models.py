"""Analytics' stored figures: Meta's insights of accounts and their media, read on a schedule.

Meta keeps account insights for 90 days and may revise a day's figures for up to 48 hours, so the
product keeps its own copy: one row per account, metric and day (rewritten while Meta may still revise
it), one row per post with its latest lifetime figures, and one row per account saying how the last
reading went (shown on the account's analytics page, and read by the schedule to leave alone an account
that did not grant the insights permission).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class AccountInsight(WorkspaceOwned):
    """One daily figure of an account, as Meta's account insights (or its profile, for followers) gave it."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=40, help_text="Meta's metric name (reach, views, follower_count…).")
    day = models.DateField(help_text="The UTC day the figure counts.")
    value = models.BigIntegerField()
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "account insight"
        constraints = [
            models.UniqueConstraint(fields=["account", "metric", "day"], name="account_insight_unique_day"),
        ]
        indexes = [models.Index(fields=["account", "day"], name="account_insight_day_idx")]

    def __str__(self) -> str:
        return f"{self.metric} of account {self.account_id} on {self.day}: {self.value}"


class MediaInsight(WorkspaceOwned):
    """A post's latest lifetime insights (``metrics``: Meta's metric name → value), with what the table shows."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    media_id = models.CharField(max_length=64)
    media_type = models.CharField(max_length=30, blank=True, default="")
    media_product_type = models.CharField(max_length=30, blank=True, default="")
    caption = models.CharField(max_length=300, blank=True, default="", help_text="The caption's beginning.")
    permalink = models.URLField(max_length=500, blank=True, default="")
    posted_at = models.DateTimeField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "post insight"
        constraints = [
            models.UniqueConstraint(fields=["account", "media_id"], name="media_insight_unique_media"),
        ]

    def __str__(self) -> str:
        return f"insights of post {self.media_id}"


class InsightsOutcome(models.TextChoices):
    OK = "ok", "Read"
    PERMISSION_MISSING = "permission_missing", "Permission missing"
    RATE_LIMITED = "rate_limited", "Paused by Instagram's limits"
    FAILED = "failed", "Failed"


class InsightsRefresh(WorkspaceOwned):
    """How the latest reading of an account's insights went, and when a member last asked for one."""

    account = models.OneToOneField("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=30, choices=InsightsOutcome.choices, blank=True, default="")
    detail = models.CharField(max_length=500, blank=True, default="")
    attempted_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="A member's latest “Refresh now”.")
    calls = models.PositiveIntegerField(default=0, help_text="Graph calls the latest reading made.")

    class Meta:
        verbose_name = "insights refresh"
        verbose_name_plural = "insights refreshes"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(outcome__in=["", *InsightsOutcome.values]), name="insights_refresh_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"insights of account {self.account_id}: {self.outcome or 'never read'}"
