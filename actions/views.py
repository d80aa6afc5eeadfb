from __future__ import annotations

import json

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from actions.models import Action, ActionState
from actions.selectors import ACTION_CSV_HEADER, action_csv_row, actions_export, actions_page, decisions_of
from instaforge.lists import csv_filename, csv_response, list_query_parse


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; the CSV export streams
def action_list(request: WorkspaceRequest) -> HttpResponseBase:
    """The ledger, newest first, by state, search and date range; ``?format=csv`` exports the same rows."""
    state = request.GET.get("state", "")
    if state not in ActionState.values:
        state = ""
    query = list_query_parse(request.GET, extra_keys=("state",) if state else ())
    if query.wants_csv and not query.errors:
        return csv_response(
            filename=csv_filename("ledger", query),
            header=ACTION_CSV_HEADER,
            queryset=actions_export(query=query, state=state),
            row=action_csv_row,
        )
    if query.errors:  # a date that does not exist, a tampered page link: the first page, unfiltered by it
        query.older = query.newer = None
    page = actions_page(query=query, state=state)
    return render(
        request,
        "actions/action_list.html",
        {"actions": page.rows, "page": page, "list_query": query, "state": state, "states": ActionState.choices},
        status=400 if query.errors else 200,
    )


@workspace_required
def action_detail(request: WorkspaceRequest, action_id: int) -> HttpResponse:
    action = get_object_or_404(Action.objects.select_related("account"), pk=action_id)
    return render(
        request,
        "actions/action_detail.html",
        {
            "action": action,
            "decisions": decisions_of(action=action),
            "result_json": json.dumps(action.result, indent=2, ensure_ascii=False) if action.result else "",
        },
    )
