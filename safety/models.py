from __future__ import annotations

from django.db import models
from django.utils import timezone


class AccountUsage(models.Model):
    """What Meta's usage headers last said about an account, and until when it must not call."""

    account = models.OneToOneField("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="usage")
    usage = models.JSONField(default=dict, help_text="X-App-Usage and X-Business-Use-Case-Usage, decoded.")
    peak_percent = models.PositiveSmallIntegerField(default=0, help_text="The highest of the reported percentages.")
    regain_at = models.DateTimeField(null=True, blank=True, help_text="No call for this account before this time.")
    regain_reason = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"usage of account {self.account_id}: {self.peak_percent}%"
