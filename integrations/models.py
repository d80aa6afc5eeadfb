"""Outbound webhooks to a workspace's CRM: where to send which events, and every delivery with its attempts."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class EventKind(models.TextChoices):
    NEW_LEAD = "new_lead", "New lead (a comment turned into a DM)"
    NEW_CONVERSATION = "new_conversation", "New conversation"
    HAND_OVER = "hand_over", "Conversation handed to a person"
    FLOW_COMPLETED = "flow_completed", "Flow completed"
    COMMENT_FLAGGED = "comment_flagged", "Comment flagged for a person"
    PING = "ping", "Test event"


class WebhookEndpoint(WorkspaceOwned):
    """A URL of the customer's CRM that receives the event kinds it subscribes to, signed with its secret."""

    url = models.URLField(max_length=500, verbose_name="URL")
    description = models.CharField(max_length=200, blank=True, default="")
    # Encrypted with the token vault; shown to members of the workspace so their CRM can verify signatures.
    secret_encrypted = models.TextField()
    event_kinds = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.description or self.url


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its next attempt
    SENDING = "sending", "Sending"  # an attempt is under way (leased until next_attempt_at)
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Gave up"


class WebhookDelivery(WorkspaceOwned):
    """One event for one endpoint: the exact body that is signed and sent, and how its attempts went."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField(default=uuid.uuid4, verbose_name="event ID")
    event_kind = models.CharField(max_length=30, choices=EventKind.choices)
    body = models.TextField(help_text="The raw JSON body, byte for byte what is signed and sent.")
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_response_excerpt = models.CharField(max_length=500, blank=True, default="")
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    resent_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "webhook deliveries"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx")]
        constraints = [models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="delivery_state_valid")]

    def __str__(self) -> str:
        return f"{self.event_kind} → {self.endpoint_id} ({self.state})"
