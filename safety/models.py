from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class AccountUsage(models.Model):
    """What Meta's usage headers last said about an account, and until when it must not call."""

    account = models.OneToOneField("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="usage")
    usage = models.JSONField(default=dict, help_text="X-App-Usage and X-Business-Use-Case-Usage, decoded.")
    peak_percent = models.PositiveSmallIntegerField(default=0, help_text="The highest of the reported percentages.")
    regain_at = models.DateTimeField(null=True, blank=True, help_text="No call for this account before this time.")
    regain_reason = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)
    # The risk assessor's latest score (0–100) and what it is made of (safety.risk), read by the gate.
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_components = models.JSONField(default=dict, blank=True)
    risk_updated_at = models.DateTimeField(null=True, blank=True)
    # The score and time of the account's latest RiskScoreSample, so risk_refresh decides whether a new one is
    # due from the row it already reads (no query for the last sample).
    risk_sampled_score = models.PositiveSmallIntegerField(null=True, blank=True)
    risk_sampled_at = models.DateTimeField(null=True, blank=True)
    # Exponential backoff per action type after consecutive failures (safety.cooldowns):
    # {"comment_reply": {"failures": 3, "until": "<iso>", "error": "…"}}.
    backoff = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "account usage"

    def __str__(self) -> str:
        return f"usage of account {self.account_id}: {self.peak_percent}%"


class SafetyCounter(models.Model):
    """How many actions a shared scope (the platform, a workspace) started in one fixed window.

    Incremented by one conditional ``UPDATE … SET count = count + 1 WHERE count < limit``
    in the transaction that marks the action as sending (``safety.counters``),
    so concurrent dispatchers can never take the same last slot.
    """

    scope = models.CharField(max_length=60, help_text='"global" or "workspace:<id>".')
    window = models.CharField(max_length=10, help_text='"hour" or "day".')
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "window", "window_start"], name="safety_counter_unique_window")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.window} from {self.window_start:%Y-%m-%d %H:%M}: {self.count}"


class SafetyOverride(WorkspaceOwned):
    """What a workspace (account empty) or one of its accounts changes about the safety defaults.

    ``values`` holds only the policy keys that differ from what the scope
    inherits. ``sending_stopped`` is the scope's kill switch: work is still
    planned, nothing is sent.
    """

    account = models.ForeignKey(
        "accounts.InstagramAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    values = models.JSONField(default=dict, blank=True)
    sending_stopped = models.BooleanField(default=False)
    stopped_reason = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"], condition=Q(account__isnull=True), name="safety_override_one_per_workspace"
            ),
            models.UniqueConstraint(
                fields=["account"], condition=Q(account__isnull=False), name="safety_override_one_per_account"
            ),
        ]

    def __str__(self) -> str:
        return f"safety of {'account ' + str(self.account_id) if self.account_id else 'the workspace'}"


class SafetyChange(WorkspaceOwned):
    """The audit trail of a workspace's safety settings: who changed what, when, from what to what."""

    account = models.ForeignKey(
        "accounts.InstagramAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    setting = models.CharField(max_length=100)
    old_value = models.CharField(max_length=300, blank=True, default="")
    new_value = models.CharField(max_length=300, blank=True, default="")

    class Meta(WorkspaceOwned.Meta):
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.setting}: {self.old_value or '—'} → {self.new_value or '—'}"


class RiskScoreSample(WorkspaceOwned):
    """The account's risk score at one time: its history, for the figures page.

    Written by ``safety.services.risk_refresh`` when the score changed since the last sample or that sample
    is older than ``RISK_SAMPLE_EVERY`` (a steady account: about 24 rows a day); pruned after
    ``RISK_SAMPLES_KEPT`` by the dispatcher's housekeeping.
    """

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    score = models.PositiveSmallIntegerField()

    class Meta(WorkspaceOwned.Meta):
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["account", "at"], name="safety_risk_sample_account_at"),
            # The prune's range scan over every account (safety.services.risk_samples_prune).
            models.Index(fields=["at"], name="safety_risk_sample_at"),
        ]

    def __str__(self) -> str:
        return f"risk {self.score} of account {self.account_id} at {self.at:%Y-%m-%d %H:%M}"


class GlobalKillSwitch(models.Model):
    """The operators' switch that stops every send on the platform (one row, pk 1)."""

    sending_stopped = models.BooleanField(default=False)
    stopped_reason = models.CharField(max_length=300, blank=True, default="")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name_plural = "global kill switches"
        verbose_name = "global kill switch"

    def __str__(self) -> str:
        return "sending stopped everywhere" if self.sending_stopped else "sending allowed"


class GlobalKillSwitchChange(models.Model):
    """The audit trail of the global kill switch."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    sending_stopped = models.BooleanField()
    reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{'stopped' if self.sending_stopped else 'resumed'} at {self.at:%Y-%m-%d %H:%M}"


class SafetyEventKind(models.TextChoices):
    REPEATED_TEXT = "repeated_text", "Same reply text repeated"
    VELOCITY_SPIKE = "velocity_spike", "Velocity spike"
    USER_BURST = "user_burst", "Reply burst to one person"
    ERROR = "error", "Error from Instagram"
    RATE_LIMIT = "rate_limit", "Rate limit from Instagram"
    POLICY_BLOCK = "policy_block", "Policy block from Instagram (368)"
    BACKOFF = "backoff", "Backoff after failures"
    SLOWDOWN = "slowdown", "Slowed down by risk"
    SUSPENSION = "suspension", "Suspended for review"


class SafetyEventOutcome(models.TextChoices):
    VARY = "vary", "Varied the text"
    DEFER = "defer", "Deferred"
    FLAG = "flag", "Flagged"
    SUSPEND = "suspend", "Suspended the account"
    NOTE = "note", "Noted"


class SafetyEvent(WorkspaceOwned):
    """Something the safety engine saw about an account: a pattern, an error, a slowdown, a suspension.

    The risk assessor scores the recent ones; the account's safety page and the
    operators' review queue show them, ``data`` holding the evidence (the error,
    the action, the risk components at the time).
    """

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=20, choices=SafetyEventKind.choices)
    outcome = models.CharField(max_length=10, choices=SafetyEventOutcome.choices, default=SafetyEventOutcome.FLAG)
    code = models.IntegerField(null=True, blank=True, help_text="Instagram's error code, for errors.")
    action_id_ref = models.BigIntegerField(
        null=True, blank=True, help_text="The action it is about, if any.", verbose_name="action ID"
    )
    detail = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["account", "at"], name="safety_event_account_at_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.detail}"
