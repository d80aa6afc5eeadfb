"""Conformance of the Graph endpoints added for issue 3 with Meta's documented examples (fixtures/meta, SOURCES.md).

Responses must have the documented keys with the documented JSON types, and
the documented request bodies must be accepted as they are.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import requests

from sandbox import services
from sandbox.models import SandboxAccount, SandboxComment, SandboxContainer, SandboxMessage, SandboxToken
from sandbox.testing import SandboxServer, WebhookReceiver
from sandbox.tests.conftest import issue_token
from sandbox.tests.test_conformance import assert_same_shape, documented
from sandbox.webhooks import message_webhook_payload


@pytest.fixture
def account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(username="demo_bakery")


@pytest.fixture
def token(account: SandboxAccount) -> SandboxToken:
    return issue_token(account)


@pytest.fixture
def dm(account: SandboxAccount, webhook_receiver: WebhookReceiver) -> SandboxMessage:
    return services.sandbox_follower_message(
        account=account, from_username="jane", text="Hello, is this still available?"
    )


def _get(server: SandboxServer, token: SandboxToken, path: str, **params: str) -> Any:
    response = requests.get(f"{server.url}/v26.0/{path}", params={**params, "access_token": token.token}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def _post_json(server: SandboxServer, token: SandboxToken, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{server.url}/v26.0/{path}", params={"access_token": token.token}, json=body, timeout=5)


def test_media_comments(sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount) -> None:
    media = account.media.get()
    SandboxComment.objects.create(media=media, from_id="1234567890123456", from_username="jane", text="I love this!")

    body = _get(sandbox_server, token, f"{media.media_id}/comments", fields="timestamp,text,id")

    assert_same_shape(body["data"], documented("media_comments_response.json")["data"])


def test_content_publishing_limit(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    body = _get(sandbox_server, token, "me/content_publishing_limit", fields="quota_usage,config")

    assert_same_shape(body, documented("content_publishing_limit_response.json"))


def test_conversations(sandbox_server: SandboxServer, token: SandboxToken, dm: SandboxMessage) -> None:
    listed = _get(sandbox_server, token, "me/conversations", platform="instagram")
    by_user = _get(sandbox_server, token, "me/conversations", user_id=dm.conversation.follower_id, fields="id")

    assert_same_shape(listed["data"], documented("conversations_response.json")["data"])
    # Graph adds cursor paging to every edge; the docs leave it out of this sample.
    assert_same_shape(by_user["data"], documented("conversation_by_user_response.json")["data"])


def test_container_status(sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount) -> None:
    container = services.sandbox_container_create(
        account=account, media_type="IMAGE", media_url="https://example.com/a.jpg", caption=""
    )

    body = _get(sandbox_server, token, container.container_id, fields="status_code")

    assert_same_shape(body, documented("container_status_response.json"))
    assert body["status_code"] in SandboxContainer.Status.values


def test_user_profile(sandbox_server: SandboxServer, token: SandboxToken, dm: SandboxMessage) -> None:
    fields = "name,username,profile_pic,follower_count,is_user_follow_business,is_business_follow_user"

    body = _get(sandbox_server, token, dm.conversation.follower_id, fields=fields)

    assert_same_shape(body, documented("user_profile_response.json"))


def test_documented_request_bodies_are_accepted(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount, dm: SandboxMessage
) -> None:
    igsid = dm.conversation.follower_id
    comment = SandboxComment.objects.create(
        media=account.media.get(), from_id="1234567890123456", from_username="john", text="Price?"
    )
    answers = []
    for name in ("quick_replies_request.json", "generic_template_request.json", "sender_action_react_request.json"):
        body = copy.deepcopy(documented(name))
        body["recipient"]["id"] = igsid
        if "payload" in body:
            body["payload"]["message_id"] = dm.mid
        answers.append(_post_json(sandbox_server, token, "me/messages", body))
    private = copy.deepcopy(documented("private_reply_request.json"))
    private["recipient"]["comment_id"] = comment.comment_id
    answers.append(_post_json(sandbox_server, token, "me/messages", private))

    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert_same_shape(answer.json(), documented("send_message_response.json"))


def test_messages_webhook(dm: SandboxMessage, webhook_receiver: WebhookReceiver, transactional_db: None) -> None:
    docs = documented("webhook_messages_text.json")

    assert_same_shape(message_webhook_payload(message=dm), docs)
    [received] = webhook_receiver.requests
    assert_same_shape(json.loads(received.body), docs)


def test_quick_reply_and_postback_webhooks(
    account: SandboxAccount, webhook_receiver: WebhookReceiver, transactional_db: None
) -> None:
    services.sandbox_follower_message(
        account=account, from_username="jane", text="Yes, please", quick_reply_payload="ORDER_CONFIRM_YES"
    )
    services.sandbox_follower_postback(account=account, from_username="jane", title="Track my order", payload="TRACK")

    quick_reply, postback = (json.loads(request.body) for request in webhook_receiver.requests)
    assert_same_shape(quick_reply, documented("webhook_messages_quick_reply.json"))
    assert_same_shape(postback, documented("webhook_messaging_postbacks.json"))


def test_echo_webhooks(account: SandboxAccount, webhook_receiver: WebhookReceiver, transactional_db: None) -> None:
    incoming = services.sandbox_follower_message(account=account, from_username="jane", text="Hi")
    igsid = incoming.conversation.follower_id
    services.sandbox_message_send(account=account, recipient_id=igsid, message={"text": "not echoed by default"})
    services.sandbox_settings_update(message_echoes="true")
    services.sandbox_message_send(account=account, recipient_id=igsid, message={"text": "Thanks for your message!"})
    services.sandbox_owner_message(account=account, follower_id=igsid, text="A person here")

    bodies = [json.loads(request.body) for request in webhook_receiver.requests]
    assert len(bodies) == 3
    for echo in bodies[1:]:
        assert_same_shape(echo, documented("webhook_messages_echo.json"))
        assert echo["entry"][0]["messaging"][0]["sender"]["id"] == account.user_id
    assert bodies[2]["entry"][0]["messaging"][0]["message"]["text"] == "A person here"


def test_ice_breakers_documented_request_and_read_back(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    answer = _post_json(
        sandbox_server, token, f"{account.user_id}/messenger_profile", documented("ice_breakers_request.json")
    )
    assert answer.status_code == 200, answer.text

    body = _get(sandbox_server, token, "me/messenger_profile", fields="ice_breakers", platform="instagram")

    assert body == documented("ice_breakers_get_response.json")
    deleted = requests.delete(
        f"{sandbox_server.url}/v26.0/me/messenger_profile",
        params={"access_token": token.token, "platform": "instagram"},
        json={"fields": ["ice_breakers"]},
        timeout=5,
    )
    assert deleted.status_code == 200, deleted.text
    assert _get(sandbox_server, token, "me/messenger_profile", fields="ice_breakers", platform="instagram") == {
        "data": []
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda body: body["ice_breakers"][0]["call_to_actions"].extend([{"question": "q", "payload": "p"}] * 3),
            "At most 4",
        ),
        (lambda body: body["ice_breakers"].pop(0), "default locale is required"),
        (lambda body: body["ice_breakers"][0]["call_to_actions"][0].pop("payload"), "question and a payload"),
        (lambda body: body.pop("platform"), "platform must be instagram"),
    ],
)
def test_ice_breakers_refused_like_graph_error_100(
    sandbox_server: SandboxServer, token: SandboxToken, change: Any, message: str
) -> None:
    body = copy.deepcopy(documented("ice_breakers_request.json"))
    change(body)

    answer = _post_json(sandbox_server, token, "me/messenger_profile", body)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100 and message in answer.json()["error"]["message"]
    assert set(answer.json()["error"]) == {"message", "type", "code", "fbtrace_id"}


def test_a_page_with_more_links_the_next_one_by_its_absolute_url(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    media = account.media.get()
    for number in range(3):
        SandboxComment.objects.create(media=media, from_id="1234567890123456", from_username="jane", text=f"#{number}")

    first = _get(sandbox_server, token, f"{media.media_id}/comments", fields="text", limit="2")
    following = first["paging"]["next"]
    assert following.startswith(f"{sandbox_server.url}/v26.0/{media.media_id}/comments?")
    second = requests.get(following, timeout=5).json()  # the token and fields travel in the link

    assert len(first["data"]) == 2 and len(second["data"]) == 1
    assert "next" not in second["paging"]
    assert {comment["text"] for comment in first["data"] + second["data"]} == {"#0", "#1", "#2"}
