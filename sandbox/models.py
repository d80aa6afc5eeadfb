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
    # The messenger profile's ice breakers as last set: [{"call_to_actions": [...], "locale": ...}, ...].
    ice_breakers = models.JSONField(default=list, blank=True)

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
    media_url = models.CharField(max_length=1000, blank=True, default="")
    timestamp = models.DateTimeField(default=timezone.now)
    # Published through the content publishing API: counts against the 24-hour publishing limit.
    via_api = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "sandbox media"
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
    # Hidden by the account (POST /{comment-id}?hide=true): only its author still sees it.
    hidden = models.BooleanField(default=False)

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
        verbose_name_plural = "sandbox webhook deliveries"
        ordering = ("-at", "-id")

    def __str__(self) -> str:
        return f"webhook to {self.url} → {self.status or self.error[:40]}"

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def message_id() -> str:
    """An opaque message id in the style of Instagram's ``mid`` (base64-looking, ``aWdf`` prefix)."""
    return "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")


def conversation_id() -> str:
    """An opaque conversation id in the style of Instagram's (``aWdf`` prefix)."""
    return "aWdfZAG06" + secrets.token_urlsafe(30).replace("-", "A").replace("_", "B")


class SandboxConversation(models.Model):
    """A DM thread between a sandbox account and one follower (Instagram-scoped id)."""

    conversation_id = models.CharField(max_length=80, unique=True, default=conversation_id)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="conversations")
    follower_id = models.CharField(max_length=32)
    follower_username = models.CharField(max_length=30)
    updated_at = models.DateTimeField(default=timezone.now)
    # The follower's last message: the 24-hour messaging window runs from here.
    last_follower_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-updated_at", "-id")
        constraints = (
            models.UniqueConstraint(fields=("account", "follower_id"), name="sandbox_conversation_per_follower"),
        )

    def __str__(self) -> str:
        return f"@{self.account.username} ↔ @{self.follower_username}"


class SandboxMessage(models.Model):
    """One DM in a conversation, from the follower or from the account (through the API)."""

    mid = models.CharField(max_length=120, unique=True, default=message_id)
    conversation = models.ForeignKey(SandboxConversation, on_delete=models.CASCADE, related_name="messages")
    from_follower = models.BooleanField()
    text = models.TextField(blank=True, default="")
    # The message object as sent (quick_replies, attachment…) or the follower's attachments/reply_to.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The account's reaction to a follower's message (sender_action react / unreact).
    reaction = models.CharField(max_length=40, blank=True, default="")
    # Set on a private reply: the comment it answers. One private reply per comment.
    private_reply_to = models.OneToOneField(
        SandboxComment, null=True, blank=True, on_delete=models.SET_NULL, related_name="private_reply"
    )

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{'follower' if self.from_follower else 'account'}: {self.text[:40]}"


class SandboxContainer(models.Model):
    """A media container of the content publishing flow (POST /me/media)."""

    class Status(models.TextChoices):
        IN_PROGRESS = "IN_PROGRESS"
        FINISHED = "FINISHED"
        ERROR = "ERROR"
        EXPIRED = "EXPIRED"
        PUBLISHED = "PUBLISHED"

    container_id = models.CharField(max_length=32, unique=True, default=graph_id)
    account = models.ForeignKey(SandboxAccount, on_delete=models.CASCADE, related_name="containers")
    media_type = models.CharField(max_length=20, default="IMAGE")
    media_url = models.CharField(max_length=1000, blank=True, default="")
    caption = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # Processing finishes at this moment (FINISHED), or fails (ERROR) when ``fails`` is set.
    ready_at = models.DateTimeField(default=timezone.now)
    fails = models.BooleanField(default=False)
    published_media = models.OneToOneField(SandboxMedia, null=True, blank=True, on_delete=models.SET_NULL)
    # Carousels: an item container (is_carousel_item) or the parent with its children's container ids.
    is_carousel_item = models.BooleanField(default=False)
    children = models.JSONField(default=list, blank=True)
    # The other documented parameters as received (user_tags, collaborators, location_id, alt_text, ...).
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"container {self.container_id}"


class SandboxFault(models.Model):
    """An injected fault: the graph endpoints consult the active ones before answering."""

    class Kind(models.TextChoices):
        ERROR = "error", "Graph error (code/subcode)"
        LATENCY = "latency", "added latency"
        STATUS = "status", "HTTP status (5xx)"
        TIMEOUT = "timeout", "no answer in time"
        REVOKE = "revoke", "token revocation (190)"
        POLICY_BLOCK = "policy_block", "policy block (368)"
        DROP_WEBHOOKS = "drop_webhooks", "dropped webhooks"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    code = models.IntegerField(null=True, blank=True)
    subcode = models.IntegerField(null=True, blank=True)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    milliseconds = models.PositiveIntegerField(null=True, blank=True)
    ratio = models.FloatField(null=True, blank=True)
    # Empty: every account / every path / every method.
    account_username = models.CharField(max_length=30, blank=True, default="")
    path_pattern = models.CharField(max_length=200, blank=True, default="")
    method = models.CharField(max_length=8, blank=True, default="")
    # How many more requests it hits; null: until cleared.
    remaining = models.PositiveIntegerField(null=True, blank=True)
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)
        constraints = (
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=("error", "latency", "status", "timeout", "revoke", "policy_block", "drop_webhooks")
                ),
                name="sandbox_fault_kind_valid",
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} fault #{self.pk}"


class SandboxSettings(models.Model):
    """The sandbox's knobs (one row, id 1), editable through the control API and ``sandbox_faults config``."""

    # Webhooks: entries per POST, and the chance that one is sent twice or out of order.
    webhook_batch_size = models.PositiveSmallIntegerField(default=1)
    webhook_duplicate_ratio = models.FloatField(default=0.0)
    webhook_reorder_ratio = models.FloatField(default=0.0)
    # Content publishing: container processing time, and the share of containers that end in ERROR.
    container_delay_seconds = models.FloatField(default=0.0)
    container_error_ratio = models.FloatField(default=0.0)
    # Documented: 100 API-published posts per rolling 24 hours (the reference sample shows quota_total 50).
    publishing_quota_total = models.PositiveIntegerField(default=100)
    # Business use case limit for Instagram: 4800 calls × impressions per 24 h; the sandbox counts one impression.
    business_calls_per_day = models.PositiveIntegerField(default=4800)
    # Platform rate limit behind X-App-Usage: "Calls within one hour = 200 * Number of Users".
    app_calls_per_user_per_hour = models.PositiveIntegerField(default=200)
    # Send ``is_echo`` messages webhooks for the messages the app sends through the API, as Meta does. Off by
    # default so tests without a webhook receiver stay quiet; replies typed "in the Instagram app" always echo.
    message_echoes = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "sandbox settings"

    def __str__(self) -> str:
        return "sandbox settings"


class SandboxOutbox(models.Model):
    """A webhook entry waiting to be sent (or re-sent after a failure) by the sender loop."""

    object_type = models.CharField(max_length=20, default="instagram")
    entry = models.JSONField()
    due_at = models.DateTimeField(default=timezone.now, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "sandbox outboxes"
        ordering = ("due_at", "id")

    def __str__(self) -> str:
        return f"outbox entry #{self.pk} ({'sent' if self.delivered_at else 'pending'})"


class SandboxAppCallback(models.Model):
    """A deauthorize or data deletion callback the sandbox sent to the app (Meta's), with the app's answer."""

    class Kind(models.TextChoices):
        DEAUTHORIZE = "deauthorize", "Remove app (deauthorize callback)"
        DATA_DELETION = "data_deletion", "Delete my data (data deletion request callback)"

    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Who asked: an account's ``user_id``, or a follower's Instagram-scoped id, with the username for the pages.
    user_id = models.CharField(max_length=32)
    username = models.CharField(max_length=30, blank=True, default="")
    url = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    # The app's answer as sent (a data deletion callback's ``{"url", "confirmation_code"}``), at most 2000 chars.
    response = models.TextField(blank=True, default="")
    # Parsed from the answer when it is the documented JSON object; empty otherwise.
    confirmation_code = models.CharField(max_length=80, blank=True, default="")
    status_url = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ("-at", "-id")
        constraints = (
            models.CheckConstraint(
                condition=models.Q(kind__in=("deauthorize", "data_deletion")), name="sandbox_app_callback_kind_valid"
            ),
        )

    def __str__(self) -> str:
        return f"{self.kind} callback for {self.user_id} → {self.status or self.error[:40]}"

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300
