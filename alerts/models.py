"""Alerts: a condition that holds for a subject (an account, an endpoint, the platform), open until it clears.

An alert is either a workspace's (its ``workspace`` is set: the customer's conditions, seen on the web app's
alert page) or the platform's (``workspace`` is empty: heartbeats, the inbound backlog, the global kill
switch, seen by operators in the admin). One table holds both, so one unique constraint keeps at most one
open alert per condition and subject, and the operators' admin lists them together. Tenancy still fails
closed: ``objects`` is the workspace-scoped manager, which raises without a workspace in scope and, with one,
returns that workspace's rows only (a platform alert's empty workspace never equals it); cross-tenant code
(the sweep, the admin) uses ``all_workspaces`` explicitly.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceScopedManager


class AlertScope(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    PLATFORM = "platform", "Platform"


class Alert(models.Model):
    """One occurrence of a condition for a subject, from when it was seen until it cleared."""

    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(max_length=10, choices=AlertScope.choices)
    condition = models.CharField(max_length=40, help_text="The condition's key (alerts.conditions).")
    subject = models.CharField(max_length=80, help_text='What it is about: "account:12", "endpoint:3", "platform"…')
    title = models.CharField(max_length=200)
    detail = models.CharField(max_length=1000, blank=True, default="")
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # As for every tenant-owned table: Django's default manager (the admin) spans workspaces; product code
    # reads through the scoped ``objects``, which fails closed.
    all_workspaces = models.Manager()
    objects = WorkspaceScopedManager()

    class Meta:
        default_manager_name = "all_workspaces"
        ordering = ["-opened_at", "-id"]
        constraints = [
            # One alert per condition and subject until it clears: the sweep that sees it again only
            # moves last_seen_at (no storm), and two sweeps at once cannot both open it.
            models.UniqueConstraint(
                fields=["condition", "subject"], condition=Q(resolved_at__isnull=True), name="alert_one_open"
            ),
            # A workspace's alert has its workspace, a platform alert has none.
            models.CheckConstraint(
                condition=Q(scope=AlertScope.WORKSPACE, workspace__isnull=False)
                | Q(scope=AlertScope.PLATFORM, workspace__isnull=True),
                name="alert_scope_matches_workspace",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "resolved_at"], name="alert_workspace_open_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class NotificationEvent(models.TextChoices):
    OPENED = "opened", "Opened"
    RESOLVED = "resolved", "Resolved"


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"


class NotificationAudience(models.TextChoices):
    WORKSPACE = "workspace", "The workspace's owners and admins"
    OPERATORS = "operators", "The operators"


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Gave up"


class AlertNotification(models.Model):
    """One message about an alert (opened or resolved) to one audience on one channel, kept until it is sent.

    Written with the alert's change in one transaction; the sweep sends what is pending, so a channel that
    fails is tried again at the next sweep (up to ``alerts.services.NOTIFICATION_MAX_ATTEMPTS``).
    """

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    workspace = models.ForeignKey(
        "accounts.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    event = models.CharField(max_length=10, choices=NotificationEvent.choices)
    audience = models.CharField(max_length=10, choices=NotificationAudience.choices)
    channel = models.CharField(max_length=10, choices=NotificationChannel.choices)
    state = models.CharField(max_length=10, choices=NotificationState.choices, default=NotificationState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    all_workspaces = models.Manager()
    objects = WorkspaceScopedManager()

    class Meta:
        default_manager_name = "all_workspaces"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "event", "audience", "channel"], name="alert_notification_once_per_channel"
            )
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="alert_notification_state_idx")]

    def __str__(self) -> str:
        return f"{self.event} of alert {self.alert_id} by {self.channel} to {self.audience} ({self.state})"


class AlertSettings(models.Model):
    """A workspace's alert channels: the Slack-compatible incoming-webhook URL (a secret: encrypted)."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    # The URL is the credential (anyone who has it can post to the channel): stored in the vault.
    slack_webhook_url_encrypted = models.TextField(
        blank=True, default="", editable=False, verbose_name="Slack webhook URL (encrypted)"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    all_workspaces = models.Manager()
    objects = WorkspaceScopedManager()

    class Meta:
        default_manager_name = "all_workspaces"
        verbose_name_plural = "alert settings"

    def __str__(self) -> str:
        return f"alert settings of workspace {self.workspace_id}"
