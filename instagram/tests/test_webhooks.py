"""The webhook endpoint: handshake, signatures, storing once, malformed bodies, unknown fields."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action
from engagement.models import Comment
from instagram.models import InboundEvent, InboundEventState
from instagram.services import ParsedChange, webhook_store
from instagram.signatures import signature_for

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
URL = "/webhooks/instagram/"


def fresh(document: dict) -> bytes:
    """Meta's examples carry old timestamps; a live delivery is recent."""
    for entry in document["entry"]:
        entry["time"] = int(time.time())
    return json.dumps(document).encode()


def documented_comment_delivery() -> bytes:
    return fresh(json.loads((FIXTURES / "webhook_comments.json").read_bytes()))


def post_signed(client: Client, body: bytes, *, secret: str | None = None):
    signature = signature_for(body=body, secret=secret or settings.INSTAGRAM_APP_SECRET)
    return client.post(URL, data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature})


def test_verification_handshake_echoes_the_challenge(client: Client) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    response = client.get(URL, params)
    assert response.status_code == 200
    assert response.content == b"1158201444"


def test_verification_with_a_wrong_token_is_refused(client: Client) -> None:
    response = client.get(URL, {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "x"})
    assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_valid_delivery_is_stored_once_even_when_delivered_three_times(client: Client) -> None:
    body = documented_comment_delivery()
    for _ in range(3):
        assert post_signed(client, body).status_code == 200
    event = InboundEvent.objects.get()
    assert (event.field, event.entry_id, event.dedupe_key) == (
        "comments",
        "17841405822304914",
        "comments:17865799348089039",
    )
    assert event.deliveries == 3
    assert event.payload["value"]["text"] == "This is an example reply comment."


@pytest.mark.django_db
@pytest.mark.parametrize("header", [None, "sha256=" + "0" * 64, "sha1=abc", "garbage"])
def test_bad_or_missing_signature_is_403_and_stores_nothing(client: Client, header: str | None) -> None:
    headers = {"X-Hub-Signature-256": header} if header else {}
    response = client.post(URL, data=documented_comment_delivery(), content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_signature_made_with_another_secret_is_refused(client: Client) -> None:
    assert post_signed(client, documented_comment_delivery(), secret="someone-else").status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"object": "instagram"}', b'{"object": 7, "entry": []}'])
def test_malformed_body_is_400_and_stores_nothing(client: Client, body: bytes) -> None:
    assert post_signed(client, body).status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_a_signed_delivery_whose_only_change_is_malformed_is_acknowledged_and_stores_nothing(
    client: Client, caplog
) -> None:
    """Meta would retry a 400 with the same bytes, to no avail: the bad change is logged and skipped."""
    body = json.dumps({"object": "instagram", "entry": [{"id": "1", "changes": [{"field": "comments"}]}]})
    assert post_signed(client, body.encode()).status_code == 200
    assert not InboundEvent.objects.exists()
    assert "Skipped change 0 of webhook entry 0: it has no value" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_unknown_fields_are_kept_not_crashing(client: Client) -> None:
    delivery = {
        "object": "instagram",
        "entry": [
            {
                "id": "1",
                "time": int(time.time()),
                "changes": [{"field": "some_future_field", "value": {"anything": [1, 2]}}],
            }
        ],
    }
    assert post_signed(client, json.dumps(delivery).encode()).status_code == 200
    event = InboundEvent.objects.get()
    assert event.field == "some_future_field"
    assert event.payload["value"] == {"anything": [1, 2]}
    assert event.state == InboundEventState.IGNORED  # kept, and says why
    assert event.outcome


@pytest.mark.django_db(transaction=True)
def test_the_documented_instagram_login_shape_without_changes_is_accepted(client: Client) -> None:
    body = fresh(json.loads((FIXTURES / "webhook_comments_ig_login_doc_literal.json").read_bytes()))
    assert post_signed(client, body).status_code == 200
    assert InboundEvent.objects.get().dedupe_key == "comments:17865799348089039"


@pytest.mark.django_db(transaction=True)
def test_a_comment_for_a_connected_account_is_routed_and_processed(client: Client, make_account, workspace) -> None:
    account = make_account(workspace, ig_user_id="17841405822304914")
    assert post_signed(client, documented_comment_delivery()).status_code == 200
    event = InboundEvent.objects.get()
    assert (event.workspace_id, event.account_id, event.state) == (
        workspace.pk,
        account.pk,
        InboundEventState.PROCESSED,
    )
    comment = Comment.all_workspaces.get()
    assert (comment.account_id, comment.from_username, comment.text) == (
        account.pk,
        "commenter_example",
        "This is an example reply comment.",
    )


@pytest.mark.django_db(transaction=True)
def test_a_comment_for_a_disconnected_account_is_kept_as_ignored_and_not_answered(
    client: Client, make_account, workspace
) -> None:
    make_account(workspace, state=AccountState.INACTIVE, ig_user_id="17841405822304914")
    assert post_signed(client, documented_comment_delivery()).status_code == 200
    event = InboundEvent.objects.get()
    assert event.state == InboundEventState.IGNORED
    assert "disconnected" in event.outcome
    assert not Comment.all_workspaces.exists()
    assert not Action.all_workspaces.exists()


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_entries_and_changes_is_stored_change_by_change(client: Client) -> None:
    template = json.loads(documented_comment_delivery())
    change = template["entry"][0]["changes"][0]
    entries = []
    for entry_number in range(3):
        changes = []
        for change_number in range(4):
            value = {**change["value"], "id": f"{entry_number}{change_number}"}
            changes.append({"field": "comments", "value": value})
        entries.append({"id": f"acct{entry_number}", "time": int(time.time()), "changes": changes})
    assert post_signed(client, json.dumps({"object": "instagram", "entry": entries}).encode()).status_code == 200
    assert InboundEvent.objects.count() == 12


@pytest.mark.django_db
def test_each_entry_of_a_batch_is_routed_to_its_own_workspace_and_account(
    make_workspace, make_account, monkeypatch
) -> None:
    """Routing happens inside the upsert: each entry's Instagram user id picks its account; none matches no id."""
    monkeypatch.setattr("instagram.services.enqueue_coalesced", lambda *args, **kwargs: None)
    first, second = make_workspace("First"), make_workspace("Second")
    one = make_account(first, ig_user_id="17841400000000111")
    two = make_account(second, ig_user_id="17841400000000222")
    make_account(second, ig_user_id="")  # not connected yet: must not take the entries without an id
    now = timezone.now()
    changes = [
        ParsedChange(f"comments:{number}", "instagram", "comments", entry_id, now, {"value": {"id": str(number)}})
        for number, entry_id in enumerate(["17841400000000111", "17841400000000222", "17841499999999999", ""])
    ]
    assert webhook_store(changes=changes).created == 4
    routed = dict(InboundEvent.objects.values_list("dedupe_key", "account_id"))
    assert routed == {"comments:0": one.pk, "comments:1": two.pk, "comments:2": None, "comments:3": None}
    workspaces = dict(InboundEvent.objects.values_list("dedupe_key", "workspace_id"))
    assert workspaces == {"comments:0": first.pk, "comments:1": second.pk, "comments:2": None, "comments:3": None}
    # Delivered again: counted, not routed or stored twice.
    assert webhook_store(changes=changes).redelivered == 4
    assert set(InboundEvent.objects.values_list("deliveries", flat=True)) == {2}


@pytest.mark.django_db
def test_a_change_older_than_the_retry_horizon_is_logged_and_not_stored(client: Client, caplog) -> None:
    document = json.loads(documented_comment_delivery())
    document["entry"][0]["time"] = int(time.time()) - (settings.INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS + 1) * 3600
    assert post_signed(client, json.dumps(document).encode()).status_code == 200
    assert not InboundEvent.objects.exists()
    assert "older than the retry horizon" in caplog.text


@pytest.mark.django_db
def test_with_the_orm_broker_the_task_message_commits_with_the_events(client: Client, settings, monkeypatch) -> None:
    from django_q.conf import Conf
    from django_q.models import OrmQ

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")  # the embedded default, also when the suite runs with Redis
    from instaforge import tasks

    monkeypatch.setattr(tasks._local, "broker", None, raising=False)  # not the broker an earlier test made
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.BROKER_NAME = "orm"
    assert post_signed(client, documented_comment_delivery()).status_code == 200
    event = InboundEvent.objects.get()
    assert event.state == InboundEventState.PENDING
    assert OrmQ.objects.count() == 1  # written in the same transaction as the event, before the 200


@pytest.mark.django_db(transaction=True)
def test_a_failing_store_answers_500_so_meta_retries(client: Client, settings, monkeypatch) -> None:
    import instagram.services as services

    def broken_enqueue(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the broker went away")

    # With the ORM broker the task message is part of the transaction: it fails, everything rolls
    # back, and the 500 makes Meta retry.
    settings.BROKER_NAME = "orm"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    monkeypatch.setattr(services, "enqueue_coalesced", broken_enqueue)
    client.raise_request_exception = False
    response = post_signed(client, documented_comment_delivery())
    assert response.status_code == 500
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_redis_a_broker_failure_after_the_commit_keeps_the_events_for_the_sweeper(
    client: Client, settings, monkeypatch, caplog
) -> None:
    import instaforge.tasks as tasks

    def broken_enqueue(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the broker went away")

    settings.BROKER_NAME = "redis"
    monkeypatch.setattr(tasks, "enqueue", broken_enqueue)
    client.raise_request_exception = False

    response = post_signed(client, documented_comment_delivery())

    assert response.status_code == 200  # committed before the broker was asked: Meta need not retry
    event = InboundEvent.objects.get()
    assert event.state == InboundEventState.PENDING  # inbound_event_sweep enqueues it again
    assert "the broker went away" in caplog.text
