"""Writes for workspaces, memberships and Instagram accounts."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import lifecycle, selectors, vault
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
from accounts.vault import (
    TokenDecryptionError,
    VaultFieldReport,
    token_decrypt,
    token_encrypt,
    token_key_index,
    token_reencrypt,
)
from accounts.zones import zone_valid
from instaforge.redaction import secrets_redact
from instagram.client import InstagramClient
from instagram.errors import GraphAPIError, NotSentError, TokenInvalidError

logger = logging.getLogger(__name__)


class ForbiddenTransition(Exception):
    """The lifecycle table does not allow this change."""


class ConnectionFailed(Exception):
    """Connecting an Instagram account did not succeed; the message says why."""


class InvitationError(Exception):
    """An invitation cannot be accepted; the message says why."""


class MembershipError(Exception):
    """A change to the team is refused (not this person's to make, or no owner would remain); the message says why."""


# --- workspaces and members -------------------------------------------------
def workspace_create(*, name: str, owner: User) -> Workspace:
    """Create a workspace with ``owner`` as its owner."""
    with transaction.atomic():
        workspace = Workspace.objects.create(name=name.strip(), created_by=owner)
        Membership.all_workspaces.create(workspace=workspace, user=owner, role=Role.OWNER)
    return workspace


def invitation_create(*, workspace: Workspace, email: str, role: str, invited_by: User) -> Invitation:
    """Invite ``email`` to the workspace and email them a link. Re-inviting replaces the open invitation.

    Only an owner invites someone as an owner: an admin who could would make a second address of their own
    an owner, and so get round the rule that admins cannot promote anyone to owner.
    """
    email = email.strip().lower()
    if Membership.all_workspaces.filter(workspace=workspace, user__email__iexact=email).exists():
        raise InvitationError(f"{email} is already a member of {workspace}.")
    if role not in Role.values:
        raise InvitationError(f"{role!r} is not a role.")
    if (
        role == Role.OWNER
        and not Membership.all_workspaces.filter(workspace=workspace, user=invited_by, role=Role.OWNER).exists()
    ):
        raise InvitationError("Only an owner can invite someone as an owner.")
    with transaction.atomic():
        Invitation.all_workspaces.filter(workspace=workspace, email=email, accepted_at__isnull=True).delete()
        invitation = Invitation.all_workspaces.create(
            workspace=workspace, email=email, role=role, invited_by=invited_by
        )
    _invitation_mail(invitation, sender=invited_by)
    return invitation


def _invitation_mail(invitation: Invitation, *, sender: User) -> None:
    link = settings.SITE_URL + reverse("invitation_accept", args=[invitation.token])
    workspace = invitation.workspace
    send_mail(
        subject=f"You are invited to {workspace} on InstaForge",
        message=(
            f"{sender} invited you to the workspace {workspace} as {invitation.get_role_display().lower()}."
            f"\n\nAccept: {link}\n\nThe link works for 7 days."
        ),
        from_email=None,
        recipient_list=[invitation.email],
    )


def _team_locked(*, workspace: Workspace, actor: User) -> tuple[list[Membership], Membership]:
    """Every membership of the workspace, locked (so two changes cannot both remove "the other" owner), and the
    actor's own. Raises ``MembershipError`` when the actor is not a member (any more)."""
    team = list(
        Membership.all_workspaces.select_for_update().filter(workspace=workspace).select_related("user").order_by("pk")
    )
    own = next((membership for membership in team if membership.user_id == actor.pk), None)
    if own is None:
        raise MembershipError(f"You are not a member of {workspace}.")
    return team, own


def _team_member(team: list[Membership], membership_id: int) -> Membership:
    """The workspace's membership with this id; another workspace's id reads as missing (``DoesNotExist``: a 404)."""
    target = next((membership for membership in team if membership.pk == membership_id), None)
    if target is None:
        raise Membership.DoesNotExist(f"No membership {membership_id} in this workspace.")
    return target


def membership_remove(*, workspace: Workspace, membership_id: int, actor: User) -> Membership:
    """Remove a member from the workspace; removing one's own membership is leaving it.

    Owners remove anyone; admins remove admins and members, never an owner; members remove only themselves.
    The last owner can neither be removed nor leave (the workspace would have nobody to manage it: delete it
    instead). Access ends at once: ``WorkspaceMiddleware`` reads the memberships on every request, so the
    removed person's next page, even in a session already open on this workspace, is refused or moves to
    another of their workspaces. Conversations assigned to them become unassigned (``SET_NULL``). Returns
    the removed membership (no longer saved).
    """
    with transaction.atomic():
        team, own = _team_locked(workspace=workspace, actor=actor)
        target = _team_member(team, membership_id)
        if target.pk != own.pk:
            if not own.can_manage:
                raise MembershipError("Only owners and admins can remove members.")
            if target.role == Role.OWNER and own.role != Role.OWNER:
                raise MembershipError("Only an owner can remove an owner.")
        owners = sum(1 for membership in team if membership.role == Role.OWNER)
        if target.role == Role.OWNER and owners == 1:
            raise MembershipError(
                f"{target.user.email} is the last owner of {workspace}: make someone else an owner first."
            )
        target.delete()
    return target


def membership_role_change(*, workspace: Workspace, membership_id: int, role: str, actor: User) -> Membership:
    """Give a member another role.

    Owners change anyone's role, their own included, as long as an owner remains. Admins change admins and
    members between those two roles: they neither promote anyone to owner nor change an owner. Members change
    nothing. Changing to the role held already changes nothing.
    """
    if role not in Role.values:
        raise MembershipError(f"{role!r} is not a role.")
    with transaction.atomic():
        team, own = _team_locked(workspace=workspace, actor=actor)
        target = _team_member(team, membership_id)
        if not own.can_manage:
            raise MembershipError("Only owners and admins can change roles.")
        if target.role == role:
            return target
        if own.role != Role.OWNER and (target.role == Role.OWNER or role == Role.OWNER):
            raise MembershipError("Only an owner can make someone an owner or change an owner's role.")
        owners = sum(1 for membership in team if membership.role == Role.OWNER)
        if target.role == Role.OWNER and owners == 1:
            raise MembershipError(
                f"{target.user.email} is the last owner of {workspace}: make someone else an owner first."
            )
        target.role = role
        target.save(update_fields=["role"])
    return target


def _invitation_managed(*, workspace: Workspace, invitation_id: int, actor: User) -> Invitation:
    """The workspace's open (not accepted) invitation, locked, once the actor is checked: owners and admins, and
    only owners for an invitation as owner. Another workspace's id reads as missing (``DoesNotExist``)."""
    own = Membership.all_workspaces.filter(workspace=workspace, user=actor).first()
    if own is None or not own.can_manage:
        raise MembershipError("Only owners and admins can manage invitations.")
    invitation = (
        Invitation.all_workspaces.select_for_update()
        .select_related("workspace")
        .get(workspace=workspace, pk=invitation_id)
    )
    if invitation.accepted_at is not None:
        raise MembershipError(f"{invitation.email} has already accepted this invitation.")
    if invitation.role == Role.OWNER and own.role != Role.OWNER:
        raise MembershipError("Only an owner can manage an invitation to become an owner.")
    return invitation


def invitation_revoke(*, workspace: Workspace, invitation_id: int, actor: User) -> Invitation:
    """Withdraw an open invitation: its link stops working at once (the row is gone, so its token finds nothing).

    Returns the deleted invitation.
    """
    with transaction.atomic():
        invitation = _invitation_managed(workspace=workspace, invitation_id=invitation_id, actor=actor)
        invitation.delete()
    return invitation


def invitation_resend(*, workspace: Workspace, invitation_id: int, actor: User) -> Invitation:
    """Send an open (or expired) invitation again: a fresh link, valid 7 days from now; the old link stops working.

    The token is replaced rather than mailed again, so a link forwarded or leaked earlier is worthless.
    """
    with transaction.atomic():
        invitation = _invitation_managed(workspace=workspace, invitation_id=invitation_id, actor=actor)
        invitation.token = _fresh_invitation_token()
        invitation.expires_at = timezone.now() + INVITATION_VALIDITY
        invitation.save(update_fields=["token", "expires_at"])
    _invitation_mail(invitation, sender=actor)
    return invitation


def _fresh_invitation_token() -> str:
    return secrets.token_urlsafe(32)


# How long an invitation's link works (``accounts.models`` gives a new invitation the same).
INVITATION_VALIDITY = timedelta(days=7)


def invitation_accept(*, token: str, user: User) -> Membership:
    """Join the invitation's workspace. The invitation must be open and addressed to ``user``'s email."""
    with transaction.atomic():
        invitation = (
            Invitation.all_workspaces.select_for_update().select_related("workspace").filter(token=token).first()
        )
        refusal = selectors.invitation_refusal(invitation=invitation, user=user)
        if invitation is None or refusal:
            raise InvitationError(refusal)
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
    locked for the read-check-write, so concurrent transitions serialise. The
    reason (often an error's text) is stored redacted.
    """
    reason = secrets_redact(reason)
    with transaction.atomic():
        account = InstagramAccount.all_workspaces.select_for_update().get(pk=account_id)
        from_state = account.state
        refusal = lifecycle.transition_refusal(account, to_state)
        if refusal is not None:
            raise ForbiddenTransition(refusal)
        now = timezone.now()
        _hold_record(account, from_state=from_state, to_state=to_state)
        account.state = to_state
        account.state_changed_at = now
        account.state_reason = reason
        account.save(
            update_fields=[
                "state",
                "resume_state",
                "state_before_suspension",
                "state_before_error",
                "state_changed_at",
                "state_reason",
            ]
        )
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


def _hold_record(account: InstagramAccount, *, from_state: str, to_state: str) -> None:
    """Remember what a hold interrupts, so that ending it returns there (``lifecycle.return_state``).

    Holds nest (paused, then suspended, then in error): each level keeps its own
    field, and returning from one level leaves the levels below as they were.
    """
    if from_state in lifecycle.ACTING_STATES and to_state in (
        AccountState.PAUSED,
        AccountState.SUSPENDED,
        AccountState.ERROR,
    ):
        account.resume_state = from_state
    if to_state == AccountState.SUSPENDED and from_state != AccountState.CONNECTING:
        account.state_before_suspension = from_state
    if to_state == AccountState.ERROR and from_state != AccountState.CONNECTING:
        # (A failed reconnection keeps what the first error interrupted.)
        account.state_before_error = from_state
    if from_state == AccountState.SUSPENDED and to_state == AccountState.PAUSED:
        account.state_before_suspension = ""  # out of review; the pause keeps its acting state
    if from_state == AccountState.CONNECTING and to_state != AccountState.ERROR:
        account.state_before_error = ""  # the reconnection is over
    if to_state in lifecycle.ACTING_STATES:
        account.resume_state = account.state_before_suspension = account.state_before_error = ""
    if to_state == AccountState.INACTIVE:
        # Disconnected: a later connection begins afresh (its warm-up from day 1 unless resume_state says otherwise),
        # except an account that was waiting for an operator's review: connecting it again returns it to the review
        # (``lifecycle.return_state`` after CONNECTING), so disconnecting is no way around one.
        in_review = from_state == AccountState.SUSPENDED or (
            from_state in (AccountState.ERROR, AccountState.CONNECTING)
            and account.state_before_error == AccountState.SUSPENDED
        )
        account.state_before_suspension = ""
        account.state_before_error = AccountState.SUSPENDED if in_review else ""


def _resume_target(account: InstagramAccount) -> str:
    return lifecycle.return_state(account)


def account_pause(
    *, account_id: int, actor: User | None, reason: str = "", by_operator: bool = False
) -> InstagramAccount:
    """Pause an acting account. Its planned actions are kept and wait.

    A suspended account is paused only by an operator (taking it out of the
    review queue): a member who could pause it could then resume it, and so
    skip the review.
    """
    if not by_operator and InstagramAccount.all_workspaces.filter(pk=account_id, state=AccountState.SUSPENDED).exists():
        account = InstagramAccount.all_workspaces.get(pk=account_id)
        raise ForbiddenTransition(f"{account} cannot be paused while it waits for an operator's review.")
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
    """An operator approves a suspended account after review: it returns to the state it held before.

    An account that was paused when it was suspended stays paused (its member
    resumes it); one suspended while acting resumes on its warm-up day, or active.
    """
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
    recipients = selectors.workspace_manager_emails(workspace_id=account.workspace_id)
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


def vault_reencrypt(*, batch_size: int = 200) -> list[VaultFieldReport]:
    """Re-encrypt every value of every registered encrypted field under the newest key. Idempotent.

    Walks ``accounts.vault.ENCRYPTED_FIELDS`` (Instagram tokens, CRM secrets,
    AI keys…) in batches while the product serves: every process decrypts with
    any listed key. Values already under the newest key are left alone, so a
    second run rewrites nothing. Each rewrite is a conditional update (only if
    the value is still the one read), so a value changed meanwhile, which was
    written under the newest key, is never overwritten. A value no key reads is
    counted as unreadable and left as it is; it does not stop the others.
    """
    reports = []
    for entry in vault.ENCRYPTED_FIELDS:
        report = VaultFieldReport(entry=entry)
        manager = entry.model()._base_manager
        for batch in selectors.encrypted_values_batches(entry=entry, batch_size=batch_size):
            with transaction.atomic():
                for pk, ciphertext in batch:
                    key_index = token_key_index(ciphertext=ciphertext)
                    if key_index:  # readable, but only with an older key
                        fresh = token_reencrypt(ciphertext=ciphertext)
                        changed = manager.filter(pk=pk, **{entry.field_name: ciphertext}).update(
                            **{entry.field_name: fresh}
                        )
                        report.rewritten += changed
                        key_index = 0  # rewritten now, or rewritten meanwhile by a writer using the newest key
                    report.count(key_index, pk)
        reports.append(report)
    return reports


class StoredTokenUnreadable(TokenInvalidError, TokenDecryptionError):
    """No configured key decrypts the account's stored token (or none is stored).

    For the product this is a token Instagram would refuse: every caller that
    handles an invalid token (ERROR, "reconnect it", pages that show Instagram's
    errors) handles this one the same way, instead of failing with a 500.
    """


def account_access_token(*, account: InstagramAccount) -> str:
    """The account's decrypted access token; raises ``StoredTokenUnreadable`` when it cannot be read."""
    try:
        return token_decrypt(ciphertext=account.access_token_encrypted)
    except TokenDecryptionError as exc:
        raise StoredTokenUnreadable(
            f"the stored access token cannot be decrypted with the configured keys ({exc}); reconnect the account"
        ) from exc


def account_reconnect_with_stored_token(*, account_id: int, actor: User | None) -> InstagramAccount:
    """Operator's reconnect: check the stored token against ``/me``; restore the account if Instagram accepts it."""
    account = account_transition(
        account_id=account_id, to_state=AccountState.CONNECTING, actor=actor, cause="reconnect by an operator"
    )
    try:
        InstagramClient(access_token=account_access_token(account=account)).me()
    except (GraphAPIError, Exception) as exc:
        # Unreachable is no verdict on the token: the account stays in ERROR, where the reconnect found it.
        unreached = isinstance(exc, NotSentError)
        account_transition(
            account_id=account_id,
            to_state=AccountState.ERROR,
            actor=actor,
            cause="reconnect not checked: Instagram unreachable" if unreached else "reconnect failed",
            reason=str(exc)[:500],
        )
        if unreached:
            raise ConnectionFailed(f"The stored token was not checked, try again: {exc}") from exc
        raise ConnectionFailed(f"Instagram did not accept the stored token: {exc}") from exc
    return account_transition(
        account_id=account_id,
        to_state=_resume_target(account),
        actor=actor,
        cause="reconnected",
        reason="the stored token works",
    )


# Called, in order, when an account has finished connecting (Instagram Login) and is acting or warming up.
# Apps built on accounts (warm-up) subscribe from their ``AppConfig.ready``: accounts imports none of them.
AccountConnected = Callable[[InstagramAccount, User | None], None]
_CONNECTED_SUBSCRIBERS: list[AccountConnected] = []


def account_connected_subscribe(subscriber: AccountConnected) -> None:
    """Run ``subscriber(account, actor)`` each time an account finishes connecting. Idempotent per subscriber."""
    if subscriber not in _CONNECTED_SUBSCRIBERS:
        _CONNECTED_SUBSCRIBERS.append(subscriber)


def account_connect_complete(
    *, workspace: Workspace, code: str, redirect_uri: str, actor: User | None
) -> InstagramAccount:
    """Finish Instagram Login: exchange the code, store the token encrypted, move the account on.

    A new account goes INACTIVE → CONNECTING → WARMUP_DAY_1; a reconnected one
    returns to the state it had before its error (``lifecycle.return_state``):
    paused or in review stays so. A paused or suspended account only gets its new token.
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
        # /me's id is the app-scoped one (the token exchange's user_id where /me leaves it out).
        account.ig_scoped_id = str(profile.get("id") or short.user_id or "")
        account.connected_at = timezone.now()
        account.save()

    with workspace_scope(workspace):
        if account.state in lifecycle.ACTING_STATES:
            return account  # already connected: the token was refreshed
        if account.state in (AccountState.PAUSED, AccountState.SUSPENDED):
            return account  # the token was refreshed; a pause stays a pause, a review stays in review
        if account.state != AccountState.CONNECTING:
            account = account_transition(
                account_id=account.pk, to_state=AccountState.CONNECTING, actor=actor, cause="Instagram Login started"
            )
        # Back where it was before its error (paused, in review, or its warm-up day), or day 1 when new.
        target = lifecycle.return_state(account)
        account = account_transition(
            account_id=account.pk,
            to_state=target,
            actor=actor,
            cause="Instagram Login completed",
            reason=f"connected as @{account.username}",
        )
        for subscriber in _CONNECTED_SUBSCRIBERS:
            subscriber(account, actor)
        return account


def user_time_zone_set(*, user: User, time_zone: str) -> User:
    """The member's own zone: every page shows times in it; "" means UTC, the server's zone."""
    time_zone = time_zone.strip()
    if time_zone and not zone_valid(time_zone):
        raise ValueError(f"not a time zone name: {time_zone[:80]!r}")
    user.time_zone = time_zone
    user.save(update_fields=["time_zone"])
    return user
