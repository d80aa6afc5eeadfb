"""Reads for workspaces and accounts (within the workspace in scope)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts import vault
from accounts.models import AccountTransition, InstagramAccount, Invitation, Membership, Role, User
from accounts.vault import EncryptedField, VaultFieldReport, token_key_index


def accounts_list() -> QuerySet[InstagramAccount]:
    return InstagramAccount.objects.order_by("username", "id")


def accounts_by_instagram_id(*, instagram_id: str) -> QuerySet[InstagramAccount]:
    """Every workspace's accounts that Instagram knows by ``instagram_id``: /me's user id (webhooks) or the
    token exchange's app-scoped one (Meta's deauthorize and data deletion callbacks). Cross-tenant by nature."""
    if not instagram_id:
        return InstagramAccount.all_workspaces.none()
    return InstagramAccount.all_workspaces.filter(Q(ig_user_id=instagram_id) | Q(ig_scoped_id=instagram_id))


def workspace_manager_emails(*, workspace_id: int) -> list[str]:
    """The e-mail addresses of the workspace's owners and admins (who are told about its accounts), sorted."""
    return sorted(
        Membership.all_workspaces.filter(workspace_id=workspace_id, role__in=[Role.OWNER, Role.ADMIN]).values_list(
            "user__email", flat=True
        )
    )


def account_transitions(*, account: InstagramAccount, limit: int = 20) -> QuerySet[AccountTransition]:
    return AccountTransition.objects.filter(account=account).select_related("actor").order_by("-at", "-id")[:limit]


def members_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("joined_at", "id")


def invitations_open() -> QuerySet[Invitation]:
    """The invitations not accepted yet, expired ones included (they can be sent again)."""
    return Invitation.objects.filter(accepted_at__isnull=True).select_related("invited_by").order_by("-created_at")


def invitation_by_token(*, token: str) -> Invitation | None:
    """The invitation a link names, whichever workspace it is to (the invitee is in none of it yet), or None.

    Cross-tenant by nature, like the link itself: the token is the only key, and the page built from it shows
    the invitee only what the invitation says (the workspace's name, who invited, the role).
    """
    if not token or len(token) > 64:
        return None
    return Invitation.all_workspaces.select_related("workspace", "invited_by").filter(token=token).first()


def invitation_refusal(*, invitation: Invitation | None, user: User) -> str:
    """Why ``user`` cannot accept this invitation, in words; empty when they can."""
    if invitation is None:
        return "This invitation link is not valid: it may have been revoked or sent again with a new link."
    if invitation.accepted_at is not None:
        return "This invitation has already been used."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired. Ask for a new one."
    if invitation.email.lower() != user.email.lower():
        return f"This invitation is for {invitation.email}. Log in with that address to accept it."
    return ""


# --- the vault (cross-tenant: operators' commands) ----------------------------------------------------------


def encrypted_values_batches(*, entry: EncryptedField, batch_size: int = 500) -> Iterator[list[tuple[object, str]]]:
    """Every stored (non-empty) value of one registered field as (pk, ciphertext), in batches ordered by pk.

    Cross-tenant by design (key rotation concerns every workspace); pages by
    primary key, so rows added meanwhile are still reached and memory stays bounded.
    """
    model = entry.model()
    rows = model._base_manager.exclude(**{entry.field_name: ""}).exclude(**{f"{entry.field_name}__isnull": True})
    last = None
    while True:
        page = rows.order_by("pk") if last is None else rows.filter(pk__gt=last).order_by("pk")
        batch = list(page.values_list("pk", entry.field_name)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def vault_status(*, batch_size: int = 500) -> list[VaultFieldReport]:
    """For every registered encrypted field: how many values the newest key reads, an older key only, or none.

    Values are decrypted in memory and never returned. Older keys can be
    removed from ``TOKEN_ENCRYPTION_KEYS`` when no report counts ``older_key``.
    """
    reports = []
    for entry in vault.ENCRYPTED_FIELDS:
        report = VaultFieldReport(entry=entry)
        for batch in encrypted_values_batches(entry=entry, batch_size=batch_size):
            for pk, ciphertext in batch:
                report.count(token_key_index(ciphertext=ciphertext), pk)
        reports.append(report)
    return reports
