from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields: Any) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields: Any) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A person who logs in with an email address. Operators are staff users."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="IANA name the member reads every time in; empty means UTC (the server's zone).",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc,assignment]

    def __str__(self) -> str:
        return self.email


class Workspace(models.Model):
    """A tenant: an agency or business with its members and Instagram accounts."""

    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(WorkspaceOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="membership_unique_user_per_workspace")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


def _invitation_expiry() -> Any:
    return timezone.now() + timedelta(days=7)


class Invitation(WorkspaceOwned):
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "email"],
                condition=Q(accepted_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} to {self.workspace}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class AccountState(models.TextChoices):
    INACTIVE = "INACTIVE", "Inactive"
    CONNECTING = "CONNECTING", "Connecting"
    WARMUP_DAY_1 = "WARMUP_DAY_1", "Warm-up day 1"
    WARMUP_DAY_2 = "WARMUP_DAY_2", "Warm-up day 2"
    WARMUP_DAY_3 = "WARMUP_DAY_3", "Warm-up day 3"
    WARMUP_DAY_4 = "WARMUP_DAY_4", "Warm-up day 4"
    WARMUP_DAY_5 = "WARMUP_DAY_5", "Warm-up day 5"
    WARMUP_DAY_6 = "WARMUP_DAY_6", "Warm-up day 6"
    WARMUP_DAY_7 = "WARMUP_DAY_7", "Warm-up day 7"
    ACTIVE = "ACTIVE", "Active"
    PAUSED = "PAUSED", "Paused"
    SUSPENDED = "SUSPENDED", "Suspended (in review)"
    ERROR = "ERROR", "Error"


class InstagramAccount(WorkspaceOwned):
    """An Instagram professional account connected through Instagram Login."""

    ig_user_id = models.CharField("Instagram user id", max_length=64, blank=True, default="")
    # The user id Instagram Login's token exchange returned (Meta calls it app-scoped). Webhooks name the account
    # by ``ig_user_id`` (/me's user_id); Meta's deauthorize and data deletion callbacks carry "an app-scoped id",
    # which may be this one: both are matched (privacy.services).
    ig_scoped_id = models.CharField("Instagram-scoped user id", max_length=64, blank=True, default="")
    username = models.CharField(max_length=100, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=20, choices=AccountState.choices, default=AccountState.INACTIVE)
    # The acting state to return to after a pause, a review or a reconnect.
    resume_state = models.CharField(max_length=20, choices=AccountState.choices, blank=True, default="")
    # The state held when the account was suspended (acting, or PAUSED): approving the review returns there.
    state_before_suspension = models.CharField(max_length=20, choices=AccountState.choices, blank=True, default="")
    # The state held when the account went to ERROR (acting, PAUSED or SUSPENDED): reconnecting returns there.
    state_before_error = models.CharField(max_length=20, choices=AccountState.choices, blank=True, default="")
    state_changed_at = models.DateTimeField(default=timezone.now)
    state_reason = models.CharField(max_length=500, blank=True, default="")
    access_token_encrypted = models.TextField(blank=True, default="", editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_refreshed_at = models.DateTimeField(null=True, blank=True)
    token_permissions = models.CharField(max_length=500, blank=True, default="")
    time_zone = models.CharField(
        max_length=64, default="UTC", help_text="IANA name; the warm-up day and active hours follow it."
    )
    connected_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            # An Instagram account belongs to one workspace at a time.
            models.UniqueConstraint(
                fields=["ig_user_id"], condition=~Q(ig_user_id=""), name="instagram_account_unique_ig_user"
            ),
            models.CheckConstraint(condition=Q(state__in=AccountState.values), name="instagram_account_state_valid"),
        ]
        indexes = [
            models.Index(fields=["state"]),
            models.Index(fields=["ig_scoped_id"], name="account_ig_scoped_id_idx"),
        ]

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else f"Instagram account {self.pk}"

    @property
    def is_acting(self) -> bool:
        return self.state == AccountState.ACTIVE or self.state.startswith("WARMUP_DAY_")

    @property
    def warmup_day(self) -> int | None:
        if self.state.startswith("WARMUP_DAY_"):
            return int(self.state.rsplit("_", 1)[1])
        return None


class SuspendedAccount(InstagramAccount):
    """Proxy for the operators' review queue in the admin."""

    class Meta:
        proxy = True
        verbose_name = "account awaiting review"
        verbose_name_plural = "review queue (suspended accounts)"


class AccountTransition(WorkspaceOwned):
    """One recorded change of an account's lifecycle state."""

    account = models.ForeignKey(InstagramAccount, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=20, choices=AccountState.choices)
    to_state = models.CharField(max_length=20, choices=AccountState.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cause = models.CharField(
        max_length=100, help_text="What caused it: a person, the OAuth callback, the safety engine…"
    )
    reason = models.CharField(max_length=500, blank=True, default="")

    class Meta(WorkspaceOwned.Meta):
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"
