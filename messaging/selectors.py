"""Reads for the inbox (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from accounts.models import Membership
from messaging.models import Conversation, ConversationState, Message, Note

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
    elif assigned.isdigit():
        conversations = conversations.filter(assigned_to_id=int(assigned))
    return conversations


def conversation_thread(*, conversation: Conversation) -> list[Message]:
    """The conversation's messages, oldest first, each with its ledger entry and its author."""
    return list(
        Message.objects.filter(conversation=conversation)
        .select_related("action", "sent_by")
        .order_by("created_at", "id")
    )


def conversation_notes(*, conversation: Conversation) -> QuerySet[Note]:
    return Note.objects.filter(conversation=conversation).select_related("author").order_by("created_at", "id")


def workspace_members() -> QuerySet[Membership]:
    return Membership.objects.select_related("user").order_by("user__email", "id")
