"""State of the local Instagram emulator. Only ``sandbox/`` reads or writes these tables.

The sandbox plays Meta: InstaForge's own code never imports these models; it
reaches the sandbox over HTTP exactly as it would reach graph.instagram.com.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone


def graph_id() -> str:
    """A numeric id in the style of Instagram's (17–18 digits)."""
    return str(17_800_000_000_000_000 + secrets.randbelow(99_999_999_999_999))


class SandboxAccount(models.Model):
    """An Instagram professional account that lives in the sandbox."""

    # The Instagram professional account id: ``user_id`` on /me, ``entry[].id`` in webhooks.
    user_id = models.CharField(max_length=32, unique=True, default=graph_id)
    # The app-scoped id: ``id`` on /me. Different from ``user_id``, as on Instagram.
    app_scoped_id = models.CharField(max_length=32, unique=True, default=graph_id)
    username = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    account_type = models.CharField(max_length=20, default="BUSINESS")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("username",)

    def __str__(self) -> str:
        return f"@{self.username}"


class SandboxMedia(models.Model):
    """A post of a sandbox account."""

    media_id = models.CharField(max_length=32, unique=True, default=graph_id)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="media")
    caption = models.TextField(blank=True, default="")
    media_type = models.CharField(max_length=20, default="IMAGE")
    media_product_type = models.CharField(max_length=20, default="FEED")
    timestamp = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-timestamp", "-id")

    def __str__(self) -> str:
        return f"{self.media_type} {self.media_id}"


class SandboxComment(models.Model):
    """A comment on a post, or a reply to one (``parent`` set)."""

    comment_id = models.CharField(max_length=32, unique=True, default=graph_id)
    media = models.ForeignKey(SandboxMedia, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    from_id = models.CharField(max_length=32)
    from_username = models.CharField(max_length=30)
    text = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now)
    # Set when the reply was made through the API (by the connected app).
    via_api = models.BooleanField(default=False)

    class Meta:
        ordering = ("timestamp", "id")

    def __str__(self) -> str:
        return f"@{self.from_username}: {self.text[:40]}"


class SandboxAuthCode(models.Model):
    """An authorization code from the consent page: single use, valid one hour."""

    code = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE)
    redirect_uri = models.CharField(max_length=500)
    scopes = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for @{self.account.username} ({'used' if self.used_at else 'unused'})"


class SandboxToken(models.Model):
    """An Instagram User access token the sandbox issued."""

    class Kind(models.TextChoices):
        SHORT = "short", "short-lived"
        LONG = "long", "long-lived"

    token = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="tokens")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    scopes = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Set when the person removed the app from their account.
    revoked = models.BooleanField(default=False)

    class Meta:
        constraints = (
            models.CheckConstraint(condition=models.Q(kind__in=("short", "long")), name="sandbox_token_kind_valid"),
        )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} token of @{self.account.username}"

    @property
    def scope_list(self) -> list[str]:
        return [scope for scope in self.scopes.split(",") if scope]


class SandboxCall(models.Model):
    """The received-calls log: what InstaForge really sent to "Instagram"."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    account = models.ForeignKey(SandboxAccount, null=True, blank=True, on_delete=models.SET_NULL)
    # Query and form parameters, with secrets (access_token, client_secret) redacted.
    params = models.JSONField(default=dict)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField(default=dict)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


class SandboxWebhookDelivery(models.Model):
    """Each webhook POST the sandbox made to the app, with its answer."""

    at = models.DateTimeField(default=timezone.now)
    url = models.CharField(max_length=500)
    # The exact bytes that were signed and sent (UTF-8; the JSON itself is ASCII).
    body = models.TextField()
    signature = models.CharField(max_length=80)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"webhook to {self.url} → {self.status or self.error[:40]}"

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
