"""Puts the logged-in member's active workspace in scope for the request."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Membership, User, Workspace
from accounts.tenancy import workspace_scope
from accounts.zones import zone_valid

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
            if wanted is not None:
                # The session's workspace is no longer theirs (removed from it, or it was deleted): it ends now,
                # even mid-session, and the person is told why they see another workspace or none.
                request.session.pop(SESSION_KEY, None)
                messages.warning(
                    request, "You are no longer a member of the workspace you were in.", fail_silently=True
                )
            membership = memberships.order_by("joined_at", "id").first()
            if membership is not None:
                request.session[SESSION_KEY] = membership.workspace_id
        if membership is None:
            return self.get_response(request)
        request.membership = membership  # type: ignore[attr-defined]
        request.workspace = membership.workspace  # type: ignore[attr-defined]
        with workspace_scope(membership.workspace_id):
            return self.get_response(request)


class TimeZoneMiddleware:
    """Activate the signed-in member's own zone (``User.time_zone``) for the request.

    Forms, Django's ``date`` filter and ``{{ value|when }}`` then all read and show times in it. An empty
    or unknown name (an IANA name withdrawn by a tzdata update) falls back to the server's zone, UTC.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
        zone = zoneinfo.ZoneInfo(name) if name and zone_valid(name) else None
        if zone is None:
            timezone.deactivate()
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class WorkspaceRequest(HttpRequest):
    """The request a workspace view receives: a logged-in user with a membership in scope."""

    user: User
    membership: Membership
    workspace: Workspace
