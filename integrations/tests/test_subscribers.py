"""Conversation events reach the CRM: hand-over, new conversation, flow completed, new lead."""

from __future__ import annotations

import json

import pytest

from integrations.models import WebhookDelivery
from integrations.services import endpoint_create
from messaging.events import messaging_event_emit
from messaging.models import Conversation


@pytest.fixture
def conversation(workspace, make_account) -> Conversation:
    account = make_account(workspace)
    return Conversation.all_workspaces.create(
        workspace=workspace, account=account, participant_igsid="1234567890123456", participant_username="hungry_fan"
    )


def test_a_hand_over_is_sent_to_the_subscribed_endpoint_after_commit(
    workspace, conversation: Conversation, django_capture_on_commit_callbacks
) -> None:
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/crm", event_kinds=["hand_over"])
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/leads-only", event_kinds=["new_lead"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        messaging_event_emit(kind="hand_over", conversation=conversation, data={"reason": "asked for a person"})
    assert not WebhookDelivery.all_workspaces.exists()  # nothing before the commit
    for callback in callbacks:
        callback()
    delivery = WebhookDelivery.all_workspaces.get()
    assert delivery.endpoint.url == "http://127.0.0.1:9/crm"
    body = json.loads(delivery.body)
    assert body["kind"] == "hand_over"
    assert body["data"]["conversation"]["participant"] == {"id": "1234567890123456", "username": "hungry_fan"}
    assert body["data"]["event"]["reason"] == "asked for a person"


def test_events_only_for_the_web_app_are_not_forwarded(
    workspace, conversation: Conversation, django_capture_on_commit_callbacks
) -> None:
    endpoint_create(
        workspace=workspace,
        url="http://127.0.0.1:9/crm",
        event_kinds=["new_conversation", "hand_over", "flow_completed", "new_lead"],
    )
    with django_capture_on_commit_callbacks(execute=True):
        messaging_event_emit(kind="automation_skipped", conversation=conversation, data={})
        messaging_event_emit(kind="flow_completed", conversation=conversation, data={"flow": "Cake orders"})
    assert list(WebhookDelivery.all_workspaces.values_list("event_kind", flat=True)) == ["flow_completed"]
