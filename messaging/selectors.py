"""Reads for the inbox (within the workspace in scope)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.paginator import Page
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Membership
from actions.models import ActionDecision
from instaforge.lists import ListQuery, date_range_filter, numbered_page
from messaging.models import (
    ACTIVE_RUN_STATUSES,
    Conversation,
    ConversationEvent,
    ConversationState,
    DmRule,
    Flow,
    FlowRun,
    FlowVersion,
    Message,
    Note,
)

# Assignment filter values besides a membership id.
ASSIGNED_TO_ME = "me"
UNASSIGNED = "none"


def conversations_search(
    *, query: str = "", state: str = "", assigned: str = "", membership: Membership | None = None
) -> QuerySet[Conversation]:
    """Conversations, most recent message first, filtered by text (username, name or any message), state and assignee.

    ``assigned`` is ``"me"`` (``membership``), ``"none"``, a membership id, or empty for all.
    """
    conversations = Conversation.objects.select_related("account", "assigned_to__user").order_by(
        F("last_message_at").desc(nulls_last=True), "-id"
    )
    query = query.strip()
    if query:
        in_messages = Message.objects.filter(conversation=OuterRef("pk"), text__icontains=query)
        conversations = conversations.filter(
            Q(participant_username__icontains=query.lstrip("@"))
            | Q(participant_name__icontains=query)
            | Exists(in_messages)
        )
    if state in ConversationState.values:
        conversations = conversations.filter(state=state)
    if assigned == ASSIGNED_TO_ME and membership is not None:
        conversations = conversations.filter(assigned_to=membership)
    elif assigned == UNASSIGNED:
        conversations = conversations.filter(assigned_to__isnull=True)
    elif assigned.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
        # Past 18 digits no membership has the id (a 64-bit integer; the database would overflow).
        fits = len(assigned) <= 18
        conversations = conversations.filter(assigned_to_id=int(assigned)) if fits else conversations.none()
    return conversations


def conversations_filtered(
    *, query: ListQuery, state: str = "", assigned: str = "", membership: Membership | None = None
) -> QuerySet[Conversation]:
    """:func:`conversations_search` with the list query's search and its date range on the last message."""
    conversations = conversations_search(query=query.search, state=state, assigned=assigned, membership=membership)
    return date_range_filter(conversations, field_name="last_message_at", query=query)


def conversations_page(
    *, query: ListQuery, state: str = "", assigned: str = "", membership: Membership | None = None
) -> Page[Conversation]:
    """One page of the inbox, by page number (Paginator).

    Numbered pages, not keyset: the inbox holds one row per person who wrote (thousands, not millions), so
    its ``COUNT`` is cheap and "page 3 of 12" is what a person browsing an inbox expects; its order (the last
    message, empty last) also has NULLs a keyset would have to special-case.
    """
    conversations = conversations_filtered(query=query, state=state, assigned=assigned, membership=membership)
    return numbered_page(conversations, query=query)


CONVERSATION_CSV_HEADER: Sequence[str] = (
    "id",
    "account",
    "participant_username",
    "participant_name",
    "participant_igsid",
    "state",
    "assigned_to",
    "created_at",
    "last_message_at",
    "last_inbound_at",
    "last_message_direction",
    "last_message_preview",
    "tags",
)


def conversations_export(
    *, query: ListQuery, state: str = "", assigned: str = "", membership: Membership | None = None
) -> QuerySet[Conversation]:
    """The rows of the conversations CSV: the same filters as the inbox, in the inbox's order."""
    return conversations_filtered(query=query, state=state, assigned=assigned, membership=membership)


def conversation_csv_row(conversation: Conversation) -> Sequence[Any]:
    tags = conversation.tags if isinstance(conversation.tags, list) else []
    return (
        conversation.pk,
        conversation.account.username,
        conversation.participant_username,
        conversation.participant_name,
        conversation.participant_igsid,
        conversation.state,
        str(conversation.assigned_to.user) if conversation.assigned_to else "",
        conversation.created_at,
        conversation.last_message_at,
        conversation.last_inbound_at,
        conversation.last_message_direction,
        conversation.last_message_preview,
        " ".join(str(tag) for tag in tags),
    )


def conversation_thread(*, conversation: Conversation) -> list[Message]:
    """The conversation's messages, oldest first, each with its ledger entry and its author."""
    return list(
        Message.objects.filter(conversation=conversation)
        .select_related(
            "action",
            "sent_by",
            "analysis",
            "automation__rule",
            "automation__flow_version__flow",
            "automation__in_reply_to",
        )
        .prefetch_related(Prefetch("action__decisions", queryset=ActionDecision.all_workspaces.order_by("at", "id")))
        .order_by("created_at", "id")
    )


def conversation_notes(*, conversation: Conversation) -> QuerySet[Note]:
    return Note.objects.filter(conversation=conversation).select_related("author").order_by("created_at", "id")


def workspace_members() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("user__email", "id")


def conversation_events(*, conversation: Conversation) -> QuerySet[ConversationEvent]:
    return ConversationEvent.objects.filter(conversation=conversation).order_by("created_at", "id")


def conversation_flow_runs(*, conversation: Conversation) -> QuerySet[FlowRun]:
    return FlowRun.objects.filter(conversation=conversation).select_related("version__flow").order_by("-started_at")


def conversations_waiting_count() -> int:
    """Conversations waiting for a person (the inbox badge)."""
    return Conversation.objects.filter(state=ConversationState.WAITING).count()


def flows_list() -> QuerySet[Flow]:
    """Flows with their versions (newest first) and how many conversations are in each flow right now."""
    versions = FlowVersion.objects.annotate(
        active_runs=Count("runs", filter=Q(runs__status__in=ACTIVE_RUN_STATUSES)), all_runs=Count("runs")
    ).order_by("-number")
    return (
        Flow.objects.select_related("account", "current_version")
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by("account__username", "priority", "id")
    )


def dm_rules_list() -> QuerySet[DmRule]:
    return DmRule.objects.select_related("account").order_by("account__username", "priority", "id")
