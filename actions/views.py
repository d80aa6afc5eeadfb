from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from actions.models import Action, ActionState
from actions.selectors import actions_list, decisions_of


@workspace_required
def action_list(request: WorkspaceRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in ActionState.values:
        state = ""
    return render(
        request,
        "actions/action_list.html",
        {"actions": actions_list(state=state), "state": state, "states": ActionState.choices},
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
