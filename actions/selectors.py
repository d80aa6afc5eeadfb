"""Reads on the ledger (within the workspace in scope)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q, QuerySet

from actions.models import Action, ActionDecision, ActionState, ActionType
from instaforge.lists import KeysetPage, ListQuery, date_range_filter, keyset_page


def actions_filtered(*, query: ListQuery, state: str = "") -> QuerySet[Action]:
    """The ledger entries a list query selects (search, creation date range) in ``state`` (empty: any).

    The search matches an action type (its code or its label: "comment reply", "publish"), a state, the
    source's id (a comment's, a post's: exact), the id of the entry itself ("42" or "#42") and the last reason.
    """
    actions = Action.objects.select_related("account")
    if state:
        actions = actions.filter(state=state)
    search = query.search
    if search:
        lowered = search.lower()
        types = [value for value, label in ActionType.choices if lowered in value or lowered in label.lower()]
        states = [value for value, label in ActionState.choices if lowered in (value, label.lower())]
        matches = Q(last_reason__icontains=search) | Q(source_id=search) | Q(action_type__in=types)
        if states:
            matches |= Q(state__in=states)
        number = search.removeprefix("#")
        if number.isascii() and number.isdecimal() and len(number) <= 18:
            matches |= Q(pk=int(number))
        actions = actions.filter(matches)
    return date_range_filter(actions, field_name="created_at", query=query)


def actions_page(*, query: ListQuery, state: str = "") -> KeysetPage[Action]:
    """One page of the ledger, newest first, paged by (created_at, id).

    Keyset paging because the ledger holds every act of every account (millions of rows in a year): a page
    is one range read on the ``action_created_idx`` index, as fast on the thousandth page as on the first,
    where ``OFFSET`` would read and drop every row before the page, and ``COUNT`` the whole table each time.
    """
    return keyset_page(actions_filtered(query=query, state=state), time_field="created_at", query=query)


ACTION_CSV_HEADER: Sequence[str] = (
    "id",
    "created_at",
    "account",
    "action_type",
    "state",
    "due_at",
    "started_at",
    "finished_at",
    "attempts",
    "source_kind",
    "source_id",
    "last_reason",
    "message",
)


def actions_export(*, query: ListQuery, state: str = "") -> QuerySet[Action]:
    """The rows of the ledger CSV, oldest first (a spreadsheet reads a log from the top)."""
    return actions_filtered(query=query, state=state).order_by("created_at", "id")


def action_csv_row(action: Action) -> Sequence[Any]:
    message = action.payload.get("message", "") if isinstance(action.payload, dict) else ""
    return (
        action.pk,
        action.created_at,
        action.account.username,
        action.action_type,
        action.state,
        action.due_at,
        action.started_at,
        action.finished_at,
        action.attempts,
        action.source_kind,
        action.source_id,
        action.last_reason,
        message if isinstance(message, str) else "",
    )


def decisions_of(*, action: Action) -> QuerySet[ActionDecision]:
    return ActionDecision.objects.filter(action=action).order_by("at", "id")
