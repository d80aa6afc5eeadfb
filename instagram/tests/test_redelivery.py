"""Redelivery: 1,000 events, each delivered three times in shuffled batches, are stored exactly once."""

from __future__ import annotations

import copy
import json
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from instagram.models import InboundEvent
from instagram.parsing import CommentEvent, MessageEvent, dedupe_key_for, event_parse
from instagram.signatures import signature_for

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
URL = "/webhooks/instagram/"
EVENTS = 1_000
DELIVERIES_EACH = 3
SEED = 20261126
ACCOUNTS = ("17841405822304914", "17841405822304915", "17841405822304916")


def documented_entry(name: str) -> dict[str, Any]:
    (entry,) = json.loads((FIXTURES / name).read_bytes())["entry"]
    entry_dict: dict[str, Any] = entry
    return entry_dict


def distinct_entries(now_seconds: int) -> list[tuple[str, dict[str, Any]]]:
    """Half comments, half messages, from the documented examples with their ids varied: (dedupe key, entry)."""
    comment_entry = documented_entry("webhook_comments.json")
    message_entry = documented_entry("webhook_messages_text.json")
    entries: list[tuple[str, dict[str, Any]]] = []
    for number in range(EVENTS):
        account = ACCOUNTS[number % len(ACCOUNTS)]
        if number % 2:
            entry = copy.deepcopy(comment_entry)
            entry["time"] = now_seconds
            (change,) = entry["changes"]
            change["value"]["id"] = f"1786579934{number:07d}"
            change["value"]["text"] = f"Comment number {number}"
            payload: dict[str, Any] = change
            field = "comments"
        else:
            entry = copy.deepcopy(message_entry)
            entry["time"] = now_seconds * 1000
            (item,) = entry["messaging"]
            item["recipient"]["id"] = account
            item["message"]["mid"] = f"{item['message']['mid']}{number:06d}"
            payload = item
            field = "messaging"
        entry["id"] = account
        entries.append((dedupe_key_for(field=field, entry_id=account, payload=payload), entry))
    return entries


def shuffled_batches(entries: list[tuple[str, dict[str, Any]]], rng: random.Random) -> list[list[dict[str, Any]]]:
    """Every entry three times, shuffled, cut into deliveries of 1–50 entries.

    A retry is a new POST, so one delivery never holds the same event twice:
    a copy that would land beside itself waits for the next delivery.
    """
    copies = [(key, copy.deepcopy(entry)) for key, entry in entries for _ in range(DELIVERIES_EACH)]
    rng.shuffle(copies)
    queue = deque(copies)
    batches: list[list[dict[str, Any]]] = []
    while queue:
        size = rng.randint(1, 50)
        batch: list[dict[str, Any]] = []
        in_batch: set[str] = set()
        deferred: list[tuple[str, dict[str, Any]]] = []
        while queue and len(batch) < size:
            key, entry = queue.popleft()
            if key in in_batch:
                deferred.append((key, entry))
                continue
            in_batch.add(key)
            batch.append(entry)
        queue.extendleft(reversed(deferred))
        batches.append(batch)
    return batches


@pytest.mark.django_db
def test_a_thousand_events_delivered_three_times_are_stored_once_each(client: Client) -> None:
    rng = random.Random(SEED)
    entries = distinct_entries(int(time.time()))
    expected_keys = {key for key, _ in entries}
    assert len(expected_keys) == EVENTS

    batches = shuffled_batches(entries, rng)
    assert sum(len(batch) for batch in batches) == EVENTS * DELIVERIES_EACH
    for batch in batches:
        body = json.dumps({"object": "instagram", "entry": batch}).encode()
        signature = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
        response = client.post(
            URL, data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature}
        )
        assert response.status_code == 200, (SEED, response.content)

    assert InboundEvent.objects.count() == EVENTS
    assert set(InboundEvent.objects.values_list("dedupe_key", flat=True)) == expected_keys
    assert not InboundEvent.objects.exclude(deliveries=DELIVERIES_EACH).exists()

    kinds = {"comments": 0, "messaging": 0}
    for event in InboundEvent.objects.all():
        parsed = event_parse(
            field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time
        )
        if event.field == "comments":
            assert isinstance(parsed, CommentEvent)
            assert event.dedupe_key == f"comments:{parsed.comment_id}"
        else:
            assert isinstance(parsed, MessageEvent)
            assert event.dedupe_key == f"message:{parsed.mid}"
            assert parsed.recipient_id == event.entry_id
        kinds[event.field] += 1
    assert kinds == {"comments": EVENTS // 2, "messaging": EVENTS // 2}
