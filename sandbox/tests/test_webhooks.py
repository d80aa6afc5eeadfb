"""Comments webhooks: payload, signature, retries, and the follower form that triggers them."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import requests
from django.conf import settings

from sandbox import services
from sandbox.models import SandboxAccount, SandboxComment, SandboxMedia, SandboxWebhookDelivery
from sandbox.testing import SandboxServer, WebhookReceiver
from sandbox.webhooks import comment_webhook_payload, webhook_deliver

pytestmark = pytest.mark.django_db(transaction=True)


def _signature_verifies(body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(settings.INSTAGRAM_APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def test_comment_delivers_a_signed_comments_webhook(webhook_receiver: WebhookReceiver, post: SandboxMedia) -> None:
    comment = services.sandbox_comment_post(media=post, from_username="@Jane.Doe", text="Love it ❤️")

    [received] = webhook_receiver.requests
    assert received.headers["Content-Type"] == "application/json"
    assert _signature_verifies(received.body, received.headers["X-Hub-Signature-256"])
    assert b"\\u2764" in received.body  # escaped unicode, the form Meta signs
    assert json.loads(received.body) == {
        "object": "instagram",
        "entry": [
            {
                "id": post.account.user_id,
                "time": int(comment.timestamp.timestamp()),
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "from": {"id": comment.from_id, "username": "jane.doe"},
                            "media": {"id": post.media_id, "media_product_type": "FEED"},
                            "id": comment.comment_id,
                            "text": "Love it ❤️",
                        },
                    }
                ],
            }
        ],
    }
    delivery = SandboxWebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.error) == (200, 1, "")
    assert delivery.body.encode() == received.body


def test_follower_id_is_stable_per_username(webhook_receiver: WebhookReceiver, post: SandboxMedia) -> None:
    first = services.sandbox_comment_post(media=post, from_username="jane", text="a")
    second = services.sandbox_comment_post(media=post, from_username="JANE", text="b")
    other = services.sandbox_comment_post(media=post, from_username="john", text="c")
    own = services.sandbox_comment_post(media=post, from_username=post.account.username, text="d")

    assert first.from_id == second.from_id != other.from_id
    assert len(first.from_id) == 16
    assert own.from_id == post.account.user_id


def test_reply_payload_carries_parent_id(post: SandboxMedia, account: SandboxAccount) -> None:
    parent = SandboxComment.objects.create(media=post, from_id="1", from_username="jane", text="?")
    reply = services.sandbox_reply_create(account=account, comment=parent, message="!")

    value = comment_webhook_payload(comment=reply)["entry"][0]["changes"][0]["value"]

    assert value["parent_id"] == parent.comment_id
    assert list(value) == ["from", "media", "id", "parent_id", "text"]


def test_delivery_retries_on_5xx(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with = [500, 503]

    delivery = webhook_deliver(payload={"object": "instagram", "entry": []})

    assert (delivery.status, delivery.attempts, delivery.error) == (200, 3, "")
    assert len({request.body for request in webhook_receiver.requests}) == 1


def test_delivery_gives_up_after_three_attempts(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.respond_with = [500, 500, 403]

    delivery = webhook_deliver(payload={"object": "instagram", "entry": []})

    assert (delivery.status, delivery.attempts, delivery.error, delivery.delivered) == (403, 3, "HTTP 403", False)


def test_unreachable_endpoint_is_recorded(webhook_receiver: WebhookReceiver) -> None:
    webhook_receiver.stop()

    delivery = webhook_deliver(payload={"object": "instagram", "entry": []})

    assert delivery.status is None
    assert delivery.attempts == 3
    assert "ConnectionError" in delivery.error


def test_follower_form_posts_the_comment_and_sends_the_webhook(
    sandbox_server: SandboxServer, webhook_receiver: WebhookReceiver, post: SandboxMedia
) -> None:
    response = requests.post(
        f"{sandbox_server.url}/u/acme.shop/posts/{post.media_id}/comments/",
        data={"from_username": "jane.doe", "text": "How much?"},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/u/acme.shop/#media-{post.media_id}"
    assert post.comments.get().text == "How much?"
    [received] = webhook_receiver.requests
    assert json.loads(received.body)["entry"][0]["changes"][0]["value"]["text"] == "How much?"
    assert _signature_verifies(received.body, received.headers["X-Hub-Signature-256"])
