"""Meta-like webhook delivery: batching, duplicates, reordering, drops and retries through the outbox."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.utils import timezone

from sandbox import services
from sandbox.models import SandboxAccount, SandboxOutbox, SandboxWebhookDelivery
from sandbox.testing import WebhookReceiver
from sandbox.webhooks import OUTBOX_RETRY_DELAYS, webhook_emit, webhook_outbox_flush


def _entry(number: int) -> dict[str, Any]:
    return {"id": "17841405822304914", "time": number, "changes": [{"field": "comments", "value": {"id": str(number)}}]}


def _received(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [json.loads(request.body) for request in receiver.requests]


def test_default_emit_posts_at_once(webhook_receiver: WebhookReceiver, db: None) -> None:
    delivery = webhook_emit(payload={"object": "instagram", "entry": [_entry(1)]})

    assert delivery is not None and delivery.delivered
    assert _received(webhook_receiver) == [{"object": "instagram", "entry": [_entry(1)]}]
    assert not SandboxOutbox.objects.exists()


def test_batches_of_the_configured_size(webhook_receiver: WebhookReceiver, db: None) -> None:
    services.sandbox_settings_update(webhook_batch_size=3)
    for number in range(7):
        webhook_emit(payload={"object": "instagram", "entry": [_entry(number)]})

    assert webhook_receiver.requests == []
    assert webhook_outbox_flush() == 3

    bodies = _received(webhook_receiver)
    assert [len(body["entry"]) for body in bodies] == [3, 3, 1]
    assert sorted(entry["time"] for body in bodies for entry in body["entry"]) == list(range(7))
    assert not SandboxOutbox.objects.filter(delivered_at__isnull=True).exists()


def test_duplicates_come_later_and_order_breaks_across_posts(webhook_receiver: WebhookReceiver, db: None) -> None:
    services.sandbox_settings_update(webhook_batch_size=1, webhook_duplicate_ratio=1.0, webhook_reorder_ratio=1.0)
    for number in range(20):
        webhook_emit(payload={"object": "instagram", "entry": [_entry(number)]})

    webhook_outbox_flush()
    first_round = [body["entry"][0]["time"] for body in _received(webhook_receiver)]
    SandboxOutbox.objects.filter(delivered_at__isnull=True).update(due_at=timezone.now())
    webhook_outbox_flush()

    times = [body["entry"][0]["time"] for body in _received(webhook_receiver)]
    assert sorted(first_round) == list(range(20))  # the duplicates were not due yet
    assert sorted(times) == sorted(list(range(20)) * 2)
    assert first_round != sorted(first_round)


def test_dropped_webhooks(webhook_receiver: WebhookReceiver, db: None) -> None:
    services.sandbox_fault_add(kind="drop_webhooks", ratio=1.0, times=2)

    first = webhook_emit(payload={"object": "instagram", "entry": [_entry(1)]})
    second = webhook_emit(payload={"object": "instagram", "entry": [_entry(2)]})
    third = webhook_emit(payload={"object": "instagram", "entry": [_entry(3)]})

    assert (first, second) == (None, None)
    assert third is not None and third.delivered
    assert [body["entry"][0]["time"] for body in _received(webhook_receiver)] == [3]


def test_a_failed_delivery_is_retried_from_the_outbox(webhook_receiver: WebhookReceiver, db: None) -> None:
    webhook_receiver.respond_with = [500, 500, 500, 503]

    delivery = webhook_emit(payload={"object": "instagram", "entry": [_entry(1)]})

    assert delivery is not None and not delivery.delivered
    row = SandboxOutbox.objects.get()
    assert row.due_at > timezone.now()
    assert webhook_outbox_flush() == 0  # not due yet: backoff

    SandboxOutbox.objects.update(due_at=timezone.now())
    webhook_outbox_flush()  # the 503
    SandboxOutbox.objects.update(due_at=timezone.now())
    webhook_outbox_flush()  # 200

    row.refresh_from_db()
    assert row.delivered_at is not None
    assert row.attempts == 3
    assert len(webhook_receiver.requests) == 5
    assert SandboxWebhookDelivery.objects.filter(status=200).count() == 1


def test_retries_are_bounded(webhook_receiver: WebhookReceiver, db: None) -> None:
    services.sandbox_settings_update(webhook_batch_size=2)
    webhook_receiver.respond_with = [500] * 50
    webhook_emit(payload={"object": "instagram", "entry": [_entry(1)]})

    for _ in range(len(OUTBOX_RETRY_DELAYS) + 3):
        SandboxOutbox.objects.filter(delivered_at__isnull=True, attempts__lte=len(OUTBOX_RETRY_DELAYS)).update(
            due_at=timezone.now() - timedelta(seconds=1)
        )
        webhook_outbox_flush()

    row = SandboxOutbox.objects.get()
    assert row.attempts == len(OUTBOX_RETRY_DELAYS) + 1
    assert row.last_error.startswith("gave up")
    assert len(webhook_receiver.requests) == len(OUTBOX_RETRY_DELAYS) + 1


def test_follower_dm_sends_the_messages_webhook(
    webhook_receiver: WebhookReceiver, account: SandboxAccount, transactional_db: None
) -> None:
    message = services.sandbox_follower_message(account=account, from_username="jane", text="Hello!")

    [body] = _received(webhook_receiver)
    [entry] = body["entry"]
    [event] = entry["messaging"]
    assert entry["id"] == account.user_id == event["recipient"]["id"]
    assert event["sender"]["id"] == services.follower_id("jane")
    assert event["message"] == {"mid": message.mid, "text": "Hello!"}
    assert event["timestamp"] == entry["time"] > 10**12  # milliseconds


def test_story_mention_and_reply(
    webhook_receiver: WebhookReceiver, account: SandboxAccount, transactional_db: None
) -> None:
    services.sandbox_story_mention(account=account, from_username="jane")
    services.sandbox_story_reply(account=account, from_username="jane", text="Nice story")

    mention, reply = (body["entry"][0]["messaging"][0]["message"] for body in _received(webhook_receiver))
    assert mention["attachments"][0]["type"] == "story_mention"
    assert mention["attachments"][0]["payload"]["url"].startswith("http")
    assert "text" not in mention
    assert reply["text"] == "Nice story"
    assert set(reply["reply_to"]["story"]) == {"url", "id"}
