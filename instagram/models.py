from __future__ import annotations

from django.db import models
from django.utils import timezone


class InboundEventState(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Ignored"
    FAILED = "failed", "Failed"


class InboundEvent(models.Model):
    """One change delivered by a Meta webhook, stored once.

    Not a ``WorkspaceOwned`` model: it is written before routing, by the
    webhook receiver, which is cross-tenant by nature. ``workspace`` is set
    when the Instagram account is known.
    """

    dedupe_key = models.CharField(max_length=200, unique=True)
    object_type = models.CharField(max_length=40)
    field = models.CharField(max_length=60)
    entry_id = models.CharField(max_length=64, help_text="The Instagram account id the entry is about.")
    entry_time = models.DateTimeField(null=True, blank=True)
    payload = models.JSONField(help_text="The change (or messaging item) exactly as Meta sent it.")
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    account = models.ForeignKey(
        "accounts.InstagramAccount", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=12, choices=InboundEventState.choices, default=InboundEventState.PENDING)
    received_at = models.DateTimeField(default=timezone.now)
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times Meta delivered it.")
    attempts = models.PositiveIntegerField(default=0)
    processing_since = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=500, blank=True, default="")
    # The delivery's correlation id (instaforge.correlation): its log lines, its actions' and their Graph calls'.
    correlation_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["state", "received_at"])]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field} {self.dedupe_key}"
