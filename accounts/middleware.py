"""Puts the logged-in member's active workspace in scope for the request."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from accounts.models import Membership, User, Workspace
from accounts.tenancy import workspace_scope

SESSION_KEY = "active_workspace_id"


def memberships_of(user: User) -> list[Membership]:
    """All memberships of a user, across workspaces (explicitly cross-tenant)."""
    return list(
        Membership.all_workspaces.filter(user=user)
        .select_related("workspace")
        .order_by("workspace__name", "workspace_id")
    )


class WorkspaceMiddleware:
    """Resolve ``request.membership`` from the session, validated against the user's memberships.

    The workspace never comes from request input: the session only remembers
    which of the user's own memberships is active.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        request.workspace = None  # type: ignore[attr-defined]
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        memberships = Membership.all_workspaces.filter(user=user).select_related("workspace")
        wanted = request.session.get(SESSION_KEY)
        membership = None
        if wanted is not None:
            membership = memberships.filter(workspace_id=wanted).first()
        if membership is None:
            membership = memberships.order_by("joined_at", "id").first()
            if membership is not None:
                request.session[SESSION_KEY] = membership.workspace_id
        if membership is None:
            return self.get_response(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace  # type: ignore[attr-defined]
        with workspace_scope(membership.workspace_id):
            return self.get_response(request)


class WorkspaceRequest(HttpRequest):
    """The request a workspace view receives: a logged-in user with a membership in scope."""

    user: User
    membership: Membership
    workspace: Workspace
