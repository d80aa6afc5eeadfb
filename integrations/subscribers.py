"""What the CRM hears from other apps: conversation events from ``messaging`` become CRM webhooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integrations.models import EventKind
from integrations.services import crm_event_send

if TYPE_CHECKING:
    from messaging.models import ConversationEvent

# Conversation events a customer's CRM can subscribe to (the others only explain a conversation in the web app).
FORWARDED_KINDS = frozenset(
    {EventKind.NEW_CONVERSATION, EventKind.HAND_OVER, EventKind.FLOW_COMPLETED, EventKind.NEW_LEAD}
)


def conversation_event_forward(event: ConversationEvent) -> None:
    """Send a committed conversation event to the workspace's endpoints subscribed to its kind."""
    if event.kind not in FORWARDED_KINDS:
        return
    conversation = event.conversation
    account = conversation.account
    crm_event_send(
        workspace=event.workspace_id,
        kind=event.kind,
        data={
            "source": "dm",
            "account": {"id": account.ig_user_id, "username": account.username},
            "conversation": {
                "id": conversation.pk,
                "participant": {"id": conversation.participant_igsid, "username": conversation.participant_username},
                "state": conversation.state,
                "tags": list(conversation.tags or []),
            },
            "event": {"id": event.pk, "at": event.created_at.isoformat(), **event.data},
        },
    )
