"""Reads for the inbox (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet

from accounts.models import Membership
from actions.models import ActionDecision
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
INBOX_PAGE_SIZE = 100


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
