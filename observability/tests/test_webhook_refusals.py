"""Refused webhook deliveries are tallied where every web process adds to one figure (the alerts read it)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from instagram.signatures import signature_for
from observability.selectors import webhook_refusals_recent

URL = "/webhooks/instagram/"
WINDOW = timedelta(minutes=30)


def test_refused_deliveries_are_counted_and_accepted_ones_are_not(db, client: Client, settings) -> None:
    body = json.dumps({"object": "instagram", "entry": []}).encode()
    client.post(URL, data=body, content_type="application/json")  # no signature
    client.post(URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256="sha256=00")
    malformed_signature = signature_for(body=b"{", secret=settings.INSTAGRAM_APP_SECRET)
    client.post(URL, data=b"{", content_type="application/json", HTTP_X_HUB_SIGNATURE_256=malformed_signature)
    assert webhook_refusals_recent(window=WINDOW) == 3

    signature = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
    answer = client.post(URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature)
    assert answer.status_code == 200
    assert webhook_refusals_recent(window=WINDOW) == 3
    assert webhook_refusals_recent(window=WINDOW, now=timezone.now() + timedelta(hours=1)) == 0
