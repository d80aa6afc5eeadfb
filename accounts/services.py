"""Writes for workspaces, memberships and Instagram accounts."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import lifecycle
from accounts.models import (
    AccountState,
    AccountTransition,
    InstagramAccount,
    Invitation,
    Membership,
    Role,
    User,
    Workspace,
)
from accounts.tenancy import workspace_scope
from accounts.vault import TokenDecryptionError, token_decrypt, token_encrypt, token_reencrypt
from instagram.client import InstagramClient
from instagram.errors import GraphAPIError, TokenInvalidError

logger = logging.getLogger(__name__)


class ForbiddenTransition(Exception):
    """The lifecycle table does not allow this change."""


class ConnectionFailed(Exception):
    """Connecting an Instagram account did not succeed; the message says why."""


class InvitationError(Exception):
    """An invitation cannot be accepted; the message says why."""


# --- workspaces and members -------------------------------------------------
def workspace_create(*, name: str, owner: User) -> Workspace:
    """Create a workspace with ``owner`` as its owner."""
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name.strip(), created_by=owner)
        Membership.all_workspaces.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def invitation_create(*, workspace: Workspace, email: str, role: str, invited_by: User) -> Invitation:
    """Invite ``email`` to the workspace and email them a link. Re-inviting replaces the open invitation."""
    email = email.strip().lower()
    if Membership.all_workspaces.filter(workspace=workspace, user__email__iexact=email).exists():
        raise InvitationError(f"{email} is already a member of {workspace}.")
    with transaction.atomic():
        Invitation.all_workspaces.filter(workspace=workspace, email=email, accepted_at__isnull=True).delete()
        invitation = Invitation.all_workspaces.create(
            workspace=workspace, email=email, role=role, invited_by=invited_by
        )
    link = settings.SITE_URL + reverse("invitation_accept", args=[invitation.token])
    send_mail(
        subject=f"You are invited to {workspace} on InstaForge",
        message=(
            f"{invited_by} invited you to the workspace {workspace}.\n\nAccept: {link}\n\nThe link works for 7 days."
        ),
        from_email=None,
        recipient_list=[email],
    )
    return invitation


def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the invitation's workspace. The invitation must be open and addressed to ``user``'s email."""
    with transaction.atomic():
        invitation = (
            Invitation.all_workspaces.select_for_update().select_related("workspace").filter(token=token).first()
        )
        if invitation is None:
            raise InvitationError("This invitation link is not valid.")
        if invitation.accepted_at is not None:
            raise InvitationError("This invitation has already been used.")
        if invitation.expires_at <= timezone.now():
            raise InvitationError("This invitation has expired. Ask for a new one.")
        if invitation.email.lower() != user.email.lower():
            raise InvitationError(f"This invitation is for {invitation.email}. Log in with that address to accept it.")
        membership, _ = Membership.all_workspaces.get_or_create(
            workspace=invitation.workspace, user=user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.accepted_by = user
        invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


# --- lifecycle ----------------------------------------------------------------
def account_transition(
    *, account_id: int, to_state: str, cause: str, actor: User | None = None, reason: str = ""
) -> InstagramAccount:
    """Move an account to ``to_state`` if the lifecycle table allows it, and record the change.

    Raises ``ForbiddenTransition`` (and changes nothing) otherwise. The row is
    locked for the read-check-write, so concurrent transitions serialise.
    """
    with transaction.atomic():
        account = InstagramAccount.all_workspaces.select_for_update().get(pk=account_id)
        from_state = account.state
        if not lifecycle.is_allowed(from_state, to_state):
            raise ForbiddenTransition(f"{account} cannot go from {from_state} to {to_state}.")
        if from_state in lifecycle.HOLDING_STATES and to_state in lifecycle.ACTING_STATES:
            # A paused, reviewed or reconnecting account goes back to where it was, nowhere else.
            expected = account.resume_state or AccountState.WARMUP_DAY_1
            if to_state != expected:
                raise ForbiddenTransition(f"{account} can only return to {expected} from {from_state}, not {to_state}.")
        now = timezone.now()
        if from_state in lifecycle.ACTING_STATES and to_state in (
            AccountState.PAUSED,
            AccountState.SUSPENDED,
            AccountState.ERROR,
        ):
            account.resume_state = from_state
        if to_state in lifecycle.ACTING_STATES:
            account.resume_state = ""
        account.state = to_state
        account.state_changed_at = now
        account.state_reason = reason
        account.save(update_fields=["state", "resume_state", "state_changed_at", "state_reason"])
        AccountTransition.all_workspaces.create(
            workspace_id=account.workspace_id,
            account=account,
            from_state=from_state,
            to_state=to_state,
            at=now,
            actor=actor,
            cause=cause,
            reason=reason,
        )
    return account


def _resume_target(account: InstagramAccount) -> str:
    return account.resume_state or AccountState.WARMUP_DAY_1


def account_pause(*, account_id: int, actor: User | None, reason: str = "") -> InstagramAccount:
    """Pause an acting account. Its planned actions are kept and wait."""
    return account_transition(
        account_id=account_id, to_state=AccountState.PAUSED, actor=actor, cause="paused by a person", reason=reason
    )


def account_resume(*, account_id: int, actor: User | None, reason: str = "") -> InstagramAccount:
    """Resume a paused account where it was (its warm-up day, or active)."""
    account = InstagramAccount.all_workspaces.get(pk=account_id)
    if account.state != AccountState.PAUSED:
        raise ForbiddenTransition(f"{account} is not paused.")
    return account_transition(
        account_id=account_id, to_state=_resume_target(account), actor=actor, cause="resumed by a person", reason=reason
    )


def account_suspend(*, account_id: int, actor: User | None, cause: str, reason: str) -> InstagramAccount:
    """Suspend an account for an operator's review."""
    return account_transition(
        account_id=account_id, to_state=AccountState.SUSPENDED, actor=actor, cause=cause, reason=reason
    )


def account_approve(*, account_id: int, actor: User, reason: str = "") -> InstagramAccount:
    """An operator approves a suspended account after review: it resumes where it was."""
    account = InstagramAccount.all_workspaces.get(pk=account_id)
    if account.state != AccountState.SUSPENDED:
        raise ForbiddenTransition(f"{account} is not waiting for review.")
    return account_transition(
        account_id=account_id,
        to_state=_resume_target(account),
        actor=actor,
        cause="approved after review",
        reason=reason,
    )


def account_mark_error(
    *, account_id: int, reason: str, cause: str = "Instagram rejected the token"
) -> InstagramAccount:
    """Move an acting or held account to ERROR and tell the workspace's owners and admins by email.

    The web app shows a banner for accounts in ERROR. An account already in
    ERROR is left as it is (and nobody is emailed twice).
    """
    current = InstagramAccount.all_workspaces.get(pk=account_id)
    if current.state == AccountState.ERROR:
        return current
    account = account_transition(account_id=account_id, to_state=AccountState.ERROR, cause=cause, reason=reason)
    transaction.on_commit(lambda: _error_notify(account))
    return account


def _error_notify(account: InstagramAccount) -> None:
    managers = Membership.all_workspaces.filter(
        workspace_id=account.workspace_id, role__in=[Role.OWNER, Role.ADMIN]
    ).select_related("user")
    recipients = [membership.user.email for membership in managers]
    if not recipients:
        return
    link = settings.SITE_URL + reverse("account_detail", args=[account.pk])
    send_mail(
        subject=f"{account} needs to be reconnected",
        message=(
            f"Instagram no longer accepts the connection of {account}: {account.state_reason}\n\n"
            f"Nothing is sent from this account until it is reconnected; planned replies wait.\n"
            f"Reconnect it here: {link}"
        ),
        from_email=None,
        recipient_list=recipients,
        fail_silently=True,
    )


# Refresh a long-lived token once it is this close to expiry (tokens last 60 days; Meta
# refreshes only tokens at least 24 hours old).
TOKEN_REFRESH_WHEN_EXPIRING_WITHIN = timedelta(days=45)
TOKEN_MIN_AGE_FOR_REFRESH = timedelta(hours=24)


def account_token_refresh(*, account_id: int) -> InstagramAccount:
    """Exchange the account's long-lived token for a fresh one (another 60 days) and store it encrypted.

    An invalid token (code 190) moves the account to ERROR and notifies the
    workspace; other errors raise and leave the stored token as it was.
    """
    account = InstagramAccount.all_workspaces.get(pk=account_id)
    try:
        fresh = InstagramClient(access_token=account_access_token(account=account)).refresh_long_lived()
    except (TokenInvalidError, TokenDecryptionError) as exc:
        account_mark_error(account_id=account_id, reason=f"the token could not be refreshed: {exc}"[:500])
        raise
    with transaction.atomic():
        account = InstagramAccount.all_workspaces.select_for_update().get(pk=account_id)
        account.access_token_encrypted = token_encrypt(plaintext=fresh.access_token)
        account.token_expires_at = timezone.now() + timedelta(seconds=fresh.expires_in) if fresh.expires_in else None
        account.token_refreshed_at = timezone.now()
        account.save(update_fields=["access_token_encrypted", "token_expires_at", "token_refreshed_at"])
    return account


def tokens_refresh_due(*, now: datetime | None = None) -> dict[str, int]:
    """Refresh every connected account's token that expires within 45 days. One failure does not stop the rest."""
    now = now or timezone.now()
    due = (
        InstagramAccount.all_workspaces.exclude(state__in=[AccountState.INACTIVE, AccountState.ERROR])
        .filter(
            token_expires_at__lt=now + TOKEN_REFRESH_WHEN_EXPIRING_WITHIN,
            connected_at__lt=now - TOKEN_MIN_AGE_FOR_REFRESH,
        )
        .exclude(access_token_encrypted="")
    )
    counts = {"refreshed": 0, "failed": 0}
    for account_id in due.values_list("pk", flat=True):
        try:
            account_token_refresh(account_id=account_id)
        except Exception:
            logger.exception("Refreshing the token of account %s failed", account_id)
            counts["failed"] += 1
        else:
            counts["refreshed"] += 1
    return counts


def tokens_reencrypt(*, batch_size: int = 200) -> int:
    """Re-encrypt every stored token under the newest key (the first of TOKEN_ENCRYPTION_KEYS).

    Runs while the product serves: every process decrypts with any listed key,
    and each row is rewritten under its own lock. Returns how many were rewritten.
    """
    rewritten = 0
    ids = list(InstagramAccount.all_workspaces.exclude(access_token_encrypted="").values_list("pk", flat=True))
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            for account in InstagramAccount.all_workspaces.select_for_update().filter(
                pk__in=ids[start : start + batch_size]
            ):
                account.access_token_encrypted = token_reencrypt(ciphertext=account.access_token_encrypted)
                account.save(update_fields=["access_token_encrypted"])
                rewritten += 1
    return rewritten


def account_access_token(*, account: InstagramAccount) -> str:
    return token_decrypt(ciphertext=account.access_token_encrypted)


def account_reconnect_with_stored_token(*, account_id: int, actor: User | None) -> InstagramAccount:
    """Operator's reconnect: check the stored token against ``/me``; restore the account if Instagram accepts it."""
    account = account_transition(
        account_id=account_id, to_state=AccountState.CONNECTING, actor=actor, cause="reconnect by an operator"
    )
    try:
        InstagramClient(access_token=account_access_token(account=account)).me()
    except (GraphAPIError, Exception) as exc:
        account_transition(
            account_id=account_id,
            to_state=AccountState.ERROR,
            actor=actor,
            cause="reconnect failed",
            reason=str(exc)[:500],
        )
        raise ConnectionFailed(f"Instagram did not accept the stored token: {exc}") from exc
    return account_transition(
        account_id=account_id,
        to_state=_resume_target(account),
        actor=actor,
        cause="reconnected",
        reason="the stored token works",
    )


def account_connect_complete(
    *, workspace: Workspace, code: str, redirect_uri: str, actor: User | None
) -> InstagramAccount:
    """Finish Instagram Login: exchange the code, store the token encrypted, move the account on.

    A new account goes INACTIVE → CONNECTING → WARMUP_DAY_1; a reconnected one
    returns to the state it had before its error.
    """
    client = InstagramClient()
    try:
        short = client.exchange_code(code=code, redirect_uri=redirect_uri)
        long_lived = client.exchange_long_lived(short_lived_token=short.access_token)
        profile = InstagramClient(access_token=long_lived.access_token).me()
    except TokenInvalidError as exc:
        raise ConnectionFailed(f"Instagram refused the authorisation: {exc.message}") from exc
    except GraphAPIError as exc:
        raise ConnectionFailed(f"Instagram could not complete the connection: {exc.message}") from exc

    ig_user_id = str(profile.get("user_id") or short.user_id)
    with transaction.atomic():
        existing = InstagramAccount.all_workspaces.select_for_update().filter(ig_user_id=ig_user_id).first()
        if existing is not None and existing.workspace_id != workspace.pk:
            raise ConnectionFailed(f"@{profile.get('username', ig_user_id)} is already connected to another workspace.")
        if existing is None:
            try:
                with transaction.atomic():
                    existing = InstagramAccount.all_workspaces.create(workspace=workspace, ig_user_id=ig_user_id)
            except IntegrityError as exc:
                raise ConnectionFailed(
                    "This Instagram account was connected at the same moment elsewhere; try again."
                ) from exc
        account = existing
        account.username = str(profile.get("username", ""))
        account.name = str(profile.get("name", ""))
        account.access_token_encrypted = token_encrypt(plaintext=long_lived.access_token)
        account.token_expires_at = (
            timezone.now() + timedelta(seconds=long_lived.expires_in) if long_lived.expires_in else None
        )
        account.token_permissions = ",".join(short.permissions)
        account.connected_at = timezone.now()
        account.save()

    with workspace_scope(workspace):
        if account.state in lifecycle.ACTING_STATES:
            return account  # already connected: the token was refreshed
        if account.state == AccountState.PAUSED:
            return account
        if account.state != AccountState.CONNECTING:
            account_transition(
                account_id=account.pk, to_state=AccountState.CONNECTING, actor=actor, cause="Instagram Login started"
            )
        target = account.resume_state if account.resume_state in lifecycle.ACTING_STATES else AccountState.WARMUP_DAY_1
        account = account_transition(
            account_id=account.pk,
            to_state=target,
            actor=actor,
            cause="Instagram Login completed",
            reason=f"connected as @{account.username}",
        )
        if account.warmup_day is not None:
            # The warm-up app builds on accounts, so it is imported here rather than at the top.
            from warmup.services import warmup_plan_start

            warmup_plan_start(account_id=account.pk, cause=f"connected as @{account.username}", actor=actor)
        return account
