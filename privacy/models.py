"""The data lifecycle's records: Meta's data deletion requests (docs/features/data-lifecycle.md)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DeletionSubject(models.TextChoices):
    ACCOUNT = "account", "A connected Instagram account"
    FOLLOWER = "follower", "A person who wrote to or commented on a connected account"
    UNKNOWN = "unknown", "Nobody InstaForge holds data about"


class DeletionState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed (will be tried again)"


class DataDeletionRequest(models.Model):
    """One data deletion request from Meta's callback, and its progress.

    Not a ``WorkspaceOwned`` model: the callback is cross-tenant by nature (it names an Instagram user, who may
    be an account or a follower of several workspaces' accounts). Its status page is public, found by the
    confirmation code alone. The Instagram user id is kept only while the deletion is pending: once it is done
    the record keeps the code, the dates and the counts, nothing that names the person.
    """

    confirmation_code = models.CharField(max_length=40, unique=True)
    ig_user_id = models.CharField("Instagram user id", max_length=64, blank=True, default="")
    subject = models.CharField(max_length=10, choices=DeletionSubject.choices, blank=True, default="")
    state = models.CharField(max_length=10, choices=DeletionState.choices, default=DeletionState.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # What was deleted, by kind ({"messages": 12, "comments": 3, ...}).
    summary = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["state", "requested_at"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=DeletionState.values), name="deletion_state_valid"),
            # One pending request per person: a callback repeated (or two at once) answers with the same code.
            models.UniqueConstraint(
                fields=["ig_user_id"],
                condition=models.Q(state=DeletionState.PENDING) & ~models.Q(ig_user_id=""),
                name="deletion_one_pending_per_user",
            ),
        ]

    def __str__(self) -> str:
        return f"Data deletion {self.confirmation_code} ({self.state})"
