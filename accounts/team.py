"""The team pages: members and their roles, invitations (invite, revoke, send again), leaving a workspace.

Views parse and authorize, then call one service of ``accounts.services``, which holds the rules (who may
remove or change whom, the last owner); the page only hides the controls a person could not use.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import selectors
from accounts.decorators import workspace_required
from accounts.forms import InvitationForm
from accounts.middleware import WorkspaceRequest
from accounts.models import Invitation, Membership, Role
from accounts.services import (
    InvitationError,
    MembershipError,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_remove,
    membership_role_change,
)


@dataclass(frozen=True)
class MemberRow:
    """One member as the members page shows them, with what the viewer may do to them."""

    membership: Membership
    is_self: bool
    roles: list[tuple[str, str]]  # the roles the viewer may give; empty: the role cannot be changed by them
    can_remove: bool


def member_rows(*, viewer: Membership, members: list[Membership]) -> list[MemberRow]:
    """Mirrors the services' rules so the page offers only what would be accepted (the services still decide)."""
    owners = sum(1 for membership in members if membership.role == Role.OWNER)
    rows = []
    for membership in members:
        is_self = membership.pk == viewer.pk
        last_owner = membership.role == Role.OWNER and owners == 1
        may_touch = viewer.can_manage and (viewer.role == Role.OWNER or membership.role != Role.OWNER)
        roles: list[tuple[str, str]] = []
        if may_touch and not last_owner:
            roles = [
                (value, label) for value, label in Role.choices if viewer.role == Role.OWNER or value != Role.OWNER
            ]
        can_remove = not last_owner and (is_self or may_touch)
        rows.append(MemberRow(membership=membership, is_self=is_self, roles=roles, can_remove=can_remove))
    return rows


def _invitation_manageable(viewer: Membership, invitation: Invitation) -> bool:
    return viewer.can_manage and (invitation.role != Role.OWNER or viewer.role == Role.OWNER)


@workspace_required
def members(request: WorkspaceRequest) -> HttpResponse:
    viewer = request.membership
    form = InvitationForm(request.POST or None, allow_owner=viewer.role == Role.OWNER)
    if request.method == "POST":
        if not viewer.can_manage:
            messages.error(request, "Only owners and admins can invite people.")
        elif form.is_valid():
            try:
                invitation = invitation_create(
                    workspace=request.workspace,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except InvitationError as exc:
                messages.error(request, str(exc))
            else:
                link = request.build_absolute_uri(reverse("invitation_accept", args=[invitation.token]))
                messages.success(request, f"Invitation sent to {invitation.email}. They can also use this link: {link}")
                return redirect("members")
    invitations = list(selectors.invitations_open())
    return render(
        request,
        "accounts/members.html",
        {
            "form": form,
            "rows": member_rows(viewer=viewer, members=list(selectors.members_list())),
            "invitations": [(invitation, _invitation_manageable(viewer, invitation)) for invitation in invitations],
        },
    )


def _id_or_404(value: int) -> int:
    # The URL converter gives an int; past a 64-bit id no row has it (and SQLite would overflow).
    if value > 2**63 - 1:
        raise Http404("No such row.")
    return value


@workspace_required
@require_POST
def member_role_change(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    try:
        membership = membership_role_change(
            workspace=request.workspace,
            membership_id=_id_or_404(membership_id),
            role=request.POST.get("role", ""),
            actor=request.user,
        )
    except Membership.DoesNotExist as exc:
        raise Http404("No such member.") from exc
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{membership.user.email} is now {membership.get_role_display().lower()}.")
    return redirect("members")


@workspace_required
def member_remove(request: WorkspaceRequest, membership_id: int) -> HttpResponse:
    """GET: the confirmation page (no script needed: CSP); POST: remove, or leave when it is one's own."""
    membership = selectors.members_list().filter(pk=_id_or_404(membership_id)).first()
    if membership is None:
        raise Http404("No such member.")
    is_self = membership.pk == request.membership.pk
    if request.method != "POST":
        return render(
            request,
            "accounts/member_remove.html",
            {
                "target": membership,
                "is_self": is_self,
                "assigned": membership.assigned_conversations.count(),
            },
        )
    workspace_name = request.workspace.name
    try:
        membership_remove(workspace=request.workspace, membership_id=membership.pk, actor=request.user)
    except Membership.DoesNotExist as exc:
        raise Http404("No such member.") from exc
    except MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("members")
    if is_self:
        messages.success(request, f"You left {workspace_name}.")
        return redirect("dashboard")  # the middleware finds the next workspace, or none
    messages.success(request, f"{membership.user.email} no longer has access to {workspace_name}.")
    return redirect("members")


def _invitation_post(request: WorkspaceRequest, invitation_id: int, *, resend: bool) -> HttpResponse:
    service = invitation_resend if resend else invitation_revoke
    try:
        invitation = service(workspace=request.workspace, invitation_id=_id_or_404(invitation_id), actor=request.user)
    except Invitation.DoesNotExist as exc:
        raise Http404("No such invitation.") from exc
    except MembershipError as exc:
        messages.error(request, str(exc))
        return redirect("members")
    if resend:
        link = request.build_absolute_uri(reverse("invitation_accept", args=[invitation.token]))
        messages.success(request, f"Invitation sent again to {invitation.email}, with a new link valid 7 days: {link}")
    else:
        messages.success(request, f"The invitation of {invitation.email} is revoked: its link no longer works.")
    return redirect("members")


@workspace_required
@require_POST
def invitation_revoke_view(request: WorkspaceRequest, invitation_id: int) -> HttpResponse:
    return _invitation_post(request, invitation_id, resend=False)


@workspace_required
@require_POST
def invitation_resend_view(request: WorkspaceRequest, invitation_id: int) -> HttpResponse:
    return _invitation_post(request, invitation_id, resend=True)
