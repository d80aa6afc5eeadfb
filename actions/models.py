from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned
from actions.specs import ActionTypesWhere


class ActionType(models.TextChoices):
    COMMENT_REPLY = "comment_reply", "Comment reply"
    DM = "dm", "Direct message"
    PRIVATE_REPLY = "private_reply", "Private reply (comment to DM)"
    HIDE_COMMENT = "hide_comment", "Hide comment"
    UNHIDE_COMMENT = "unhide_comment", "Unhide comment"
    DELETE_COMMENT = "delete_comment", "Delete comment"
    SENDER_ACTION = "sender_action", "Sender action (typing, seen)"
    PUBLISH = "publish", "Publish post"
    FIRST_COMMENT = "first_comment", "First comment on a published post"
    MESSENGER_PROFILE = "messenger_profile", "Ice breakers (messenger profile)"


# Calls that send nothing to a person and publish nothing: only Meta's own limits apply to them, not the
# account's content limits, cooldowns, warm-up budget or pattern detector (safety.gate). Read from the
# action specs (``content=False``: typing indicators, ice breakers).
NOT_CONTENT_TYPES: ActionTypesWhere = ActionTypesWhere(lambda spec: not spec.content)


class ActionState(models.TextChoices):
    PLANNED = "planned", "Planned"  # waiting for its due time (or for the gate to allow it)
    CLAIMED = "claimed", "Claimed"  # a dispatcher holds it and is asking the gate
    SENDING = "sending", "Sending"  # the gate allowed it; the call to Instagram is under way
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DENIED = "denied", "Denied"
    UNKNOWN = "unknown", "Outcome unknown"  # sent, but no answer came back: reconcile, never resend blindly


class Action(WorkspaceOwned):
    """One outbound act on Instagram, from plan to outcome. The ledger."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="actions")
    action_type = models.CharField(max_length=30, choices=ActionType.choices)
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=12, choices=ActionState.choices, default=ActionState.PLANNED)
    idempotency_key = models.CharField(max_length=200)
    due_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    # What planned it, for the member to follow (e.g. "comment", the comment's id).
    source_kind = models.CharField(max_length=30, blank=True, default="")
    source_id = models.CharField(max_length=64, blank=True, default="")
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    last_reason = models.CharField(max_length=500, blank=True, default="")
    # Filled by ``action_plan`` from the payload, for the safety engine's cooldowns and patterns:
    # who the action answers (a DM recipient, a commenter) and a hash of its normalised text.
    counterpart_id = models.CharField(max_length=64, blank=True, default="")
    text_fingerprint = models.CharField(max_length=40, blank=True, default="")
    # The correlation id bound when it was planned (instaforge.correlation: the webhook delivery that led to
    # it), bound again while it is sent, so its Graph call and outcome log lines carry it too.
    correlation_id = models.CharField(max_length=64, blank=True, default="")

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "idempotency_key"], name="action_unique_idempotency_key_per_account"
            ),
            models.CheckConstraint(condition=Q(state__in=ActionState.values), name="action_state_valid"),
        ]
        indexes = [
            # In the claim's order (due time, then id): the claim reads the first few due rows of the index
            # and stops, instead of sorting every due action (a backlog of thousands) on each claim.
            models.Index(fields=["state", "due_at", "id"], name="action_due_order_idx"),
            models.Index(fields=["account", "action_type", "started_at"], name="action_account_started_idx"),
            # The gate's ledger read: an account's actions started within the policies' longest window (a day).
            # Without it the read walked every action the account ever had (issue 23: 36 ms a read, 324 ms by
            # shape, with 200,000 in its history; under 1 ms with it).
            models.Index(fields=["account", "started_at"], name="action_account_time_idx"),
            models.Index(fields=["source_kind", "source_id"], name="action_source_idx"),
            models.Index(fields=["account", "counterpart_id", "started_at"], name="action_counterpart_idx"),
            models.Index(fields=["account", "text_fingerprint", "started_at"], name="action_fingerprint_idx"),
            # The ledger page's keyset paging and the CSV export's date range: (created_at, id) within a workspace.
            models.Index(fields=["workspace", "created_at", "id"], name="action_created_idx"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_type_display()} #{self.pk} ({self.state})"


class Verdict(models.TextChoices):
    ALLOW = "allow", "Allowed"
    DEFER = "defer", "Deferred"
    DENY = "deny", "Denied"


class ActionDecision(WorkspaceOwned):
    """One verdict of the safety gate on an action, with its reason."""

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField(default=timezone.now)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    reason = models.CharField(max_length=500)
    until = models.DateTimeField(
        null=True, blank=True, help_text="For a deferral: when the action will be tried again."
    )

    class Meta(WorkspaceOwned.Meta):
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.verdict}: {self.reason}"
