"""Signed CRM webhooks against a local HTTP receiver: failure then success, signatures, backoff, giving up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import DeliveryState, WebhookDelivery
from integrations.services import (
    MAX_ATTEMPTS,
    backoff_after,
    crm_event_send,
    endpoint_create,
    endpoint_secret,
    signature_for,
    signature_verify,
    webhook_deliveries_retry,
    webhook_delivery_attempt,
    webhook_delivery_resend,
)
from sandbox.testing import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    # Computed independently: printf '{"a":1}' | openssl dgst -sha256 -hmac whsec_test
    expected = "sha256=51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"
    assert signature_for(secret="whsec_test", body=b'{"a":1}') == expected
    assert signature_verify(secret="whsec_test", body=b'{"a":1}', header=expected)
    assert not signature_verify(secret="whsec_test", body=b'{"a":2}', header=expected)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_after(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_after(20) == timedelta(hours=1)


def test_only_subscribed_active_endpoints_get_the_event(workspace, make_workspace) -> None:
    wanted = endpoint_create(workspace=workspace, url="http://127.0.0.1:9/a", event_kinds=["new_lead"])
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/b", event_kinds=["hand_over"])
    other = make_workspace("Other")
    endpoint_create(workspace=other, url="http://127.0.0.1:9/c", event_kinds=["new_lead"])
    deliveries = crm_event_send(workspace=workspace, kind="new_lead", data={"x": 1})
    assert [delivery.endpoint_id for delivery in deliveries] == [wanted.pk]
    with pytest.raises(ValueError):
        crm_event_send(workspace=workspace, kind="nonsense", data={})


def test_a_failed_delivery_is_retried_with_backoff_then_succeeds(workspace, receiver: WebhookReceiver) -> None:
    endpoint = endpoint_create(workspace=workspace, url=receiver.url, event_kinds=["new_lead"])
    receiver.respond_with = [500]
    (delivery,) = crm_event_send(workspace=workspace, kind="new_lead", data={"commenter": {"username": "ana"}})

    assert webhook_delivery_attempt(delivery_id=delivery.pk) == DeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.last_error == "the endpoint answered HTTP 500"
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)

    assert webhook_deliveries_retry() == {}  # not due yet
    assert webhook_deliveries_retry(now=timezone.now() + timedelta(seconds=31)) == {"succeeded": 1}
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED and delivery.attempts == 2 and delivery.last_status_code == 200

    assert len(receiver.requests) == 2
    first, second = receiver.requests
    assert first.body == second.body == delivery.body.encode()
    secret = endpoint_secret(endpoint=endpoint)
    for request in receiver.requests:
        assert signature_verify(secret=secret, body=request.body, header=request.headers["X-InstaForge-Signature"])
        assert request.headers["X-InstaForge-Event"] == "new_lead"
        assert request.headers["X-InstaForge-Delivery"] == str(delivery.event_id)
        assert abs(int(request.headers["X-InstaForge-Timestamp"]) - timezone.now().timestamp()) < 60
    document = json.loads(first.body)
    assert document["kind"] == "new_lead" and document["data"]["commenter"]["username"] == "ana"
    assert not signature_verify(secret="wrong", body=first.body, header=first.headers["X-InstaForge-Signature"])


def test_attempts_are_bounded_and_a_delivery_can_be_resent(workspace, receiver: WebhookReceiver) -> None:
    endpoint_create(workspace=workspace, url=receiver.url, event_kinds=["comment_flagged"])
    receiver.respond_with = [503] * MAX_ATTEMPTS
    (delivery,) = crm_event_send(workspace=workspace, kind="comment_flagged", data={})
    later = timezone.now()
    for _ in range(MAX_ATTEMPTS + 2):
        later += timedelta(hours=2)
        webhook_deliveries_retry(now=later)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILED and delivery.attempts == MAX_ATTEMPTS
    assert len(receiver.requests) == MAX_ATTEMPTS

    copy = webhook_delivery_resend(delivery=delivery)
    assert webhook_delivery_attempt(delivery_id=copy.pk) == DeliveryState.SUCCEEDED
    assert copy.event_id == delivery.event_id and copy.resent_from == delivery
    assert receiver.requests[-1].body == receiver.requests[0].body


def test_an_unreachable_endpoint_is_a_failed_attempt_not_a_crash(workspace) -> None:
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/closed", event_kinds=["new_lead"])
    (delivery,) = crm_event_send(workspace=workspace, kind="new_lead", data={})
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == DeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and "ConnectionError" in delivery.last_error


def test_an_attempt_left_by_a_dead_worker_is_tried_again(workspace, receiver: WebhookReceiver) -> None:
    endpoint_create(workspace=workspace, url=receiver.url, event_kinds=["new_lead"])
    (delivery,) = crm_event_send(workspace=workspace, kind="new_lead", data={})
    WebhookDelivery.all_workspaces.filter(pk=delivery.pk).update(
        state=DeliveryState.SENDING, next_attempt_at=timezone.now() + timedelta(seconds=60)
    )
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == "not due"  # someone holds it
    assert webhook_deliveries_retry(now=timezone.now() + timedelta(seconds=61)) == {"succeeded": 1}
