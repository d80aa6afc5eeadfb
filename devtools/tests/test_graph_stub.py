"""The benchmark's Graph API stub: the product's own client gets the documented answers, each reply is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from pytest_django.fixtures import Settings

from devtools.graph_stub import GraphStub, comment_webhook, message_webhook, webhook_body
from instagram.client import InstagramClient
from instagram.errors import GraphAPIError
from instagram.models import InboundEvent
from tests.factories import InstagramAccountFactory

FIXTURES = Path(settings.BASE_DIR) / "instagram" / "tests" / "fixtures" / "meta"


def fixture_keys(name: str) -> set[str]:
    return set(json.loads((FIXTURES / name).read_text()))


@pytest.fixture
def stub(settings: Settings) -> Iterator[GraphStub]:
    graph = GraphStub()
    settings.INSTAGRAM_GRAPH_URL = graph.start()
    yield graph
    graph.stop()


def test_the_client_gets_the_documented_shapes_and_each_reply_is_recorded(stub: GraphStub) -> None:
    stub.comment_add(comment_id="17860000000000001", commenter_id="1900000000000001", username="fan1")
    stub.person_add(igsid="1900000000000002", username="fan2")
    client = InstagramClient(access_token="any-token", max_retries=0)

    reply = client.comment_reply(comment_id="17860000000000001", message="Hi fan1, it is 2.50!")
    assert set(reply) == fixture_keys("comment_reply_response.json")
    typing = client.sender_action(recipient_id="1900000000000002", action="typing_on")
    assert typing == {"recipient_id": "1900000000000002"}  # typing and seen answer recipient_id only
    message = client.message_send_text(recipient_id="1900000000000002", text="Hi fan2, it is 2.50!")
    assert set(message) == fixture_keys("send_message_response.json")
    assert message["recipient_id"] == "1900000000000002"
    private = client.private_reply(comment_id="17860000000000001", text="Here is the list.")
    assert private["recipient_id"] == "1900000000000001" and set(private) == fixture_keys("send_message_response.json")
    profile = client.user_profile(igsid="1900000000000002", fields="name,username")
    assert set(profile) == {"name", "username"} <= fixture_keys("user_profile_response.json")
    assert profile["username"] == "fan2"

    assert set(stub.replies) == {"17860000000000001", "1900000000000002"}
    assert stub.calls == {"comment_reply": 1, "sender_action": 1, "message": 1, "private_reply": 1, "user_profile": 1}
    assert stub.duplicates() == 1  # the comment got a public and a private reply
    assert not stub.unexpected


def test_a_call_it_does_not_serve_is_a_graph_error_and_counted(stub: GraphStub) -> None:
    client = InstagramClient(access_token="any-token", max_retries=0)
    with pytest.raises(GraphAPIError):
        client.media_get(media_id="17918195224117851")
    with pytest.raises(GraphAPIError):
        client.user_profile(igsid="1900000000000009")  # a person the benchmark never made
    assert stub.unexpected == {"GET /{id}": 2}
    assert not stub.replies


@pytest.mark.django_db
def test_the_webhooks_built_for_the_stub_are_accepted_and_stored(client: Client) -> None:
    account = InstagramAccountFactory.create()
    payloads = [
        comment_webhook(
            account_id=account.ig_user_id,
            media_id="17918195224000000",
            comment_id="17860000000000001",
            from_id="1900000000000001",
            username="fan1",
            text="price?",
        ),
        message_webhook(account_id=account.ig_user_id, sender_id="1900000000000002", mid="bench-mid-2", text="price?"),
    ]
    for payload in payloads:
        body, headers = webhook_body(payload=payload, secret=settings.INSTAGRAM_APP_SECRET)
        response = client.post(
            "/webhooks/instagram/",
            data=body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": headers["X-Hub-Signature-256"]},
        )
        assert response.status_code == 200, response.content
    stored = {event.field: event for event in InboundEvent.objects.all()}
    assert set(stored) == {"comments", "messaging"}
    assert stored["comments"].dedupe_key == "comments:17860000000000001"
    assert stored["messaging"].dedupe_key == "message:bench-mid-2"
    assert {event.account_id for event in stored.values()} == {account.pk}
