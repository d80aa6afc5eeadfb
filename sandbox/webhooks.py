"""Webhooks the sandbox sends to InstaForge, signed as Meta signs them.

Meta signs every notification with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256
of the raw body, keyed with the app secret>`` and computes it over the
escaped-unicode form of the payload
(https://developers.facebook.com/docs/graph-api/webhooks/getting-started, "Validating Payloads").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests
from django.conf import settings

from sandbox.models import SandboxComment, SandboxWebhookDelivery

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
# Pauses before the second and third attempts: the delivery stays bounded (about 16 s at worst).
RETRY_DELAYS = (0.2, 0.5)


def comment_webhook_payload(*, comment: SandboxComment) -> dict[str, Any]:
    """The ``comments`` notification for ``comment``, with ``object: "instagram"``.

    Meta's pages disagree on the envelope. This follows the Webhooks reference
    for the ``comments`` field (https://developers.facebook.com/docs/graph-api/webhooks/reference/instagram)
    inside ``entry[].changes[]`` (https://developers.facebook.com/documentation/instagram-platform/webhooks/examples),
    as in instagram/tests/fixtures/meta/webhook_comments.json; ``parent_id`` only on replies,
    ``time`` in seconds. See that folder's SOURCES.md for the variants.
    """
    media = comment.media
    value: dict[str, Any] = {
        "from": {"id": comment.from_id, "username": comment.from_username},
        "media": {"id": media.media_id, "media_product_type": media.media_product_type},
        "id": comment.comment_id,
    }
    if comment.parent is not None:
        value["parent_id"] = comment.parent.comment_id
    value["text"] = comment.text
    entry = {
        "id": media.account.user_id,
        "time": int(comment.timestamp.timestamp()),
        "changes": [{"field": "comments", "value": value}],
    }
    return {"object": "instagram", "entry": [entry]}


def webhook_signature(*, body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post_once(*, url: str, body: bytes, signature: str) -> tuple[int | None, str]:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    try:
        response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code}"


def webhook_deliver(*, payload: dict[str, Any]) -> SandboxWebhookDelivery:
    """POST ``payload`` to ``settings.SANDBOX_WEBHOOK_URL``, signed, and record the delivery.

    The payload is serialised once and those exact bytes are signed and sent.
    Up to three attempts (on a connection error, a timeout or a non-2xx
    answer), each with a 5 s timeout. Never raises for a failed delivery: the
    record says what happened.
    """
    # ensure_ascii (the default) escapes non-ASCII as \\u00e4, the form Meta signs.
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    signature = webhook_signature(body=body, secret=settings.INSTAGRAM_APP_SECRET)
    url = settings.SANDBOX_WEBHOOK_URL
    attempts = 1
    status, error = _post_once(url=url, body=body, signature=signature)
    for delay in RETRY_DELAYS:
        if not error:
            break
        time.sleep(delay)
        attempts += 1
        status, error = _post_once(url=url, body=body, signature=signature)
    if error:
        logger.warning("Webhook to %s failed after %d attempts: %s", url, attempts, error)
    return SandboxWebhookDelivery.objects.create(
        url=url, body=body.decode("ascii"), signature=signature, status=status, error=error, attempts=attempts
    )
