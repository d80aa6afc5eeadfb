"""Fixtures of the inbox tests: an account, and messaging webhook items delivered through the real path."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import InstagramAccount, Workspace
from instagram.models import InboundEvent
from instagram.services import webhook_parse, webhook_store
from instagram.tasks import inbound_event_process
from messaging.models import Conversation
from tests.factories import ConversationFactory

FOLLOWER_ID = "1234567890123456"


@pytest.fixture
def account(workspace: Workspace, make_account) -> InstagramAccount:
    return make_account(workspace)


def milliseconds(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def message_item(
    account: InstagramAccount,
    *,
    mid: str,
    text: str = "",
    at: datetime | None = None,
    echo: bool = False,
    deleted: bool = False,
    sender: str = FOLLOWER_ID,
) -> dict[str, Any]:
    """A ``messages`` item in the shape Meta documents (instagram/tests/fixtures/meta/webhook_messages_*.json)."""
    body: dict[str, Any] = {"mid": mid}
    if text:
        body["text"] = text
    if echo:
        body["is_echo"] = True
    if deleted:
        body["is_deleted"] = True
    ours, theirs = account.ig_user_id, sender
    return {
        "sender": {"id": ours if echo else theirs},
        "recipient": {"id": theirs if echo else ours},
        "timestamp": milliseconds(at or timezone.now()),
        "message": body,
    }


def deliver(account: InstagramAccount, item: dict[str, Any]) -> InboundEvent:
    """Receive ``item`` as the webhook does (parse, store once) and process it as the task does."""
    document = {
        "object": "instagram",
        "entry": [{"id": account.ig_user_id, "time": milliseconds(timezone.now()), "messaging": [item]}],
    }
    changes = webhook_parse(body=json.dumps(document).encode())
    webhook_store(changes=changes)
    event = InboundEvent.objects.get(dedupe_key=changes[0].dedupe_key)
    inbound_event_process(event.pk)
    event.refresh_from_db()
    return event


@pytest.fixture
def make_conversation(account: InstagramAccount):
    counter = iter(range(1, 10_000))

    def make(*, last_inbound_at: datetime | None = None, **fields: Any) -> Conversation:
        number = next(counter)
        defaults: dict[str, Any] = {
            "participant_igsid": f"99{number:014d}",
            "participant_username": f"follower{number}",
            "last_inbound_at": last_inbound_at,
            "last_message_at": last_inbound_at,
        }
        defaults.update(fields)
        return ConversationFactory.create(account=account, **defaults)

    return make
