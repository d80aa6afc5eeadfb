"""Reads on the ledger (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from actions.models import Action, ActionDecision


def actions_list(*, state: str = "", limit: int = 200) -> QuerySet[Action]:
    queryset = Action.objects.select_related("account").order_by("-created_at", "-id")
    if state:
        queryset = queryset.filter(state=state)
    return queryset[:limit]


def decisions_of(*, action: Action) -> QuerySet[ActionDecision]:
    return ActionDecision.objects.filter(action=action).order_by("at", "id")
