"""Reads for workspaces and accounts (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import AccountTransition, InstagramAccount, Invitation, Membership


def accounts_list() -> QuerySet[InstagramAccount]:
    return InstagramAccount.objects.order_by("username", "id")


def account_transitions(*, account: InstagramAccount, limit: int = 20) -> QuerySet[AccountTransition]:
    return AccountTransition.objects.filter(account=account).select_related("actor").order_by("-at", "-id")[:limit]


def members_list() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("joined_at", "id")


def invitations_open() -> QuerySet[Invitation]:
    return Invitation.objects.filter(accepted_at__isnull=True).select_related("invited_by").order_by("-created_at")
