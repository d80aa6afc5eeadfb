"""The workspace activity log's page (``/workspace/activity/``): owners and admins read who changed what."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from accounts import selectors as account_selectors
from accounts.decorators import manager_required
from accounts.middleware import WorkspaceRequest
from privacy.activity import ACTIVITY_KINDS, ENTRIES_PER_PAGE, KINDS_BY_SLUG, activity_describe, activity_entries


@manager_required
def workspace_activity(request: WorkspaceRequest) -> HttpResponse:
    """Newest first, 50 a page; filtered by kind and by person (a member of the workspace), both optional.

    A filter that names no kind or no member is ignored, so an edited URL shows the whole log of this
    workspace, never anything of another.
    """
    members = list(account_selectors.members_list())
    member_user_ids = {membership.user_id for membership in members}
    kind = request.GET.get("kind", "")
    if kind not in KINDS_BY_SLUG:
        kind = ""
    person = request.GET.get("person", "")
    actor_id = int(person) if person.isdecimal() and len(person) <= 18 and int(person) in member_user_ids else None
    entries = activity_entries(workspace_id=request.workspace.pk, kind=kind, actor_id=actor_id)
    page = Paginator(entries, ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    filters = {key: value for key, value in (("kind", kind), ("person", str(actor_id or ""))) if value}
    return render(
        request,
        "privacy/activity.html",
        {
            "page": page,
            "lines": activity_describe(
                entries=list(page.object_list), workspace_id=request.workspace.pk, member_user_ids=member_user_ids
            ),
            "kinds": ACTIVITY_KINDS,
            "members": members,
            "kind": kind,
            "actor_id": actor_id,
            "filtered": bool(filters),
            "list_query": {"link_prefix": "?" + (urlencode(filters) + "&" if filters else "")},
        },
    )
