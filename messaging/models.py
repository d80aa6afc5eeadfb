"""The DM inbox: conversations with one person each, their messages, and the team's notes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class ConversationState(models.TextChoices):
    AUTOMATED = "automated", "Automated"
    WAITING = "waiting", "Waiting for a person"
    CLOSED = "closed", "Closed"


class Conversation(WorkspaceOwned):
    """The DM thread between one Instagram account and one person (their Instagram-scoped id)."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="conversations")
    participant_igsid = models.CharField("Instagram-scoped id", max_length=64)
    participant_username = models.CharField(max_length=100, blank=True, default="")
    participant_name = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=12, choices=ConversationState.choices, default=ConversationState.AUTOMATED)
    assigned_to = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The person's last message: Meta's 24-hour window (and the 7-day human-agent window) run from here.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # The last message's text, so the inbox list needs no second query.
    last_message_preview = models.CharField(max_length=200, blank=True, default="")
    last_message_direction = models.CharField(max_length=3, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "participant_igsid"], name="conversation_unique_participant_per_account"
            ),
            models.CheckConstraint(condition=Q(state__in=ConversationState.values), name="conversation_state_valid"),
        ]
        indexes = [models.Index(fields=["workspace", "last_message_at"], name="conversation_recent_idx")]
        ordering = ["-last_message_at", "-id"]

    def __str__(self) -> str:
        return f"@{self.participant_username}" if self.participant_username else f"IGSID {self.participant_igsid}"

    @property
    def awaits_answer(self) -> bool:
        """The person wrote last: nobody has answered yet."""
        return self.last_message_direction == MessageDirection.INBOUND


class MessageDirection(models.TextChoices):
    INBOUND = "in", "From the person"
    OUTBOUND = "out", "From the account"


class Message(WorkspaceOwned):
    """One DM. Outbound messages a member wrote are on the ledger (``action``) before they are sent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    # Meta's message id; empty for a reply of ours until Instagram has given it one.
    mid = models.CharField(max_length=200, blank=True, default="")
    direction = models.CharField(max_length=3, choices=MessageDirection.choices)
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    # Sent by the account outside InstaForge (the Instagram app, another tool): known only from its echo.
    is_echo = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.ForeignKey(
        "actions.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_messages"
    )
    inbound_event = models.ForeignKey(
        "instagram.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Meta's timestamp for received messages and echoes; the moment a member wrote it for our replies.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "mid"], condition=~Q(mid=""), name="message_unique_mid"),
            models.UniqueConstraint(fields=["action"], condition=Q(action__isnull=False), name="message_unique_action"),
            models.CheckConstraint(condition=Q(direction__in=MessageDirection.values), name="message_direction_valid"),
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_thread_idx")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.direction}: {self.text[:40]}"

    @property
    def is_outbound(self) -> bool:
        return self.direction == MessageDirection.OUTBOUND


class Note(WorkspaceOwned):
    """A team member's private note on a conversation; never sent to Instagram."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:40]
