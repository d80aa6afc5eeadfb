"""The one place conversation events are emitted: recorded, then handed to subscribers after commit.

Kinds: ``new_conversation``, ``hand_over``, ``flow_completed``, ``new_lead``
(and, for the conversation's own history, ``automation_skipped``). Another app
(CRM webhooks) subscribes once, from its ``AppConfig.ready``::

    from messaging.events import conversation_event_subscribe
    conversation_event_subscribe(my_handler)   # my_handler(event: ConversationEvent) -> None

A subscriber runs after the transaction that recorded the event commits; an
exception in it is logged and never undoes or blocks the conversation's work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from messaging.models import Conversation, ConversationEvent

logger = logging.getLogger(__name__)

NEW_CONVERSATION = "new_conversation"
HAND_OVER = "hand_over"
FLOW_COMPLETED = "flow_completed"
NEW_LEAD = "new_lead"
AUTOMATION_SKIPPED = "automation_skipped"
EVENT_KINDS = (NEW_CONVERSATION, HAND_OVER, FLOW_COMPLETED, NEW_LEAD, AUTOMATION_SKIPPED)

Subscriber = Callable[[ConversationEvent], None]
_subscribers: list[Subscriber] = []


def conversation_event_subscribe(subscriber: Subscriber) -> None:
    """Call ``subscriber(event)`` for every event emitted from now on (once per subscriber)."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def conversation_event_unsubscribe(subscriber: Subscriber) -> None:
    if subscriber in _subscribers:
        _subscribers.remove(subscriber)


def _notify(event: ConversationEvent) -> None:
    for subscriber in list(_subscribers):
        try:
            subscriber(event)
        except Exception:
            logger.exception("Conversation event subscriber %r failed for event %s", subscriber, event.pk)


def messaging_event_emit(
    *, kind: str, conversation: Conversation, data: dict[str, Any] | None = None
) -> ConversationEvent:
    """Record that ``kind`` happened to ``conversation``; subscribers hear of it once the transaction commits."""
    if kind not in EVENT_KINDS:
        raise ValueError(f"Unknown conversation event kind {kind!r}.")
    event = ConversationEvent.all_workspaces.create(
        workspace_id=conversation.workspace_id, conversation=conversation, kind=kind, data=data or {}
    )
    transaction.on_commit(lambda: _notify(event))
    return event
