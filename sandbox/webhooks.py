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
import random
import threading
import time
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from instagram.signatures import SIGNED_REQUEST_ALGORITHM, signed_request_build
from sandbox import selectors
from sandbox.faults import sandbox_fault_consume
from sandbox.models import SandboxAppCallback, SandboxComment, SandboxMessage, SandboxOutbox, SandboxWebhookDelivery

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


def message_webhook_payload(*, message: SandboxMessage) -> dict[str, Any]:
    """A follower's DM as a ``messages`` notification (a button tap: ``messaging_postbacks``), ``entry[].messaging[]``.

    Shape of https://developers.facebook.com/documentation/instagram-platform/webhooks/examples
    ("Messaging payload", instagram/tests/fixtures/meta/webhook_messages_text.json):
    ``sender.id`` is the person's IGSID, ``recipient.id`` and ``entry.id`` the
    account's id, ``time`` and ``timestamp`` in milliseconds. ``attachments``,
    ``reply_to`` and ``quick_reply`` appear only when the message has them.
    """
    conversation = message.conversation
    account_id = conversation.account.user_id
    body: dict[str, Any] = {"mid": message.mid}
    if message.text:
        body["text"] = message.text
    for key in ("attachments", "quick_reply", "reply_to"):
        if key in message.payload:
            body[key] = message.payload[key]
    milliseconds = int(message.created_at.timestamp() * 1000)
    event: dict[str, Any] = {
        "sender": {"id": conversation.follower_id},
        "recipient": {"id": account_id},
        "timestamp": milliseconds,
    }
    postback = message.payload.get("postback")
    if isinstance(postback, dict):
        # A postback button tap (instagram/tests/fixtures/meta/webhook_messaging_postbacks.json).
        event["postback"] = {"mid": message.mid, "title": postback.get("title", ""), "payload": postback.get("payload")}
    else:
        event["message"] = body
    return {"object": "instagram", "entry": [{"id": account_id, "time": milliseconds, "messaging": [event]}]}


def message_echo_payload(*, message: SandboxMessage) -> dict[str, Any]:
    """The ``is_echo`` ``messages`` notification for a message the account sent (by the app or a person).

    Sender and recipient are swapped compared to an incoming message
    (instagram/tests/fixtures/meta/webhook_messages_echo.json).
    """
    conversation = message.conversation
    account_id = conversation.account.user_id
    body: dict[str, Any] = {"mid": message.mid}
    if message.text:
        body["text"] = message.text
    body["is_echo"] = True
    milliseconds = int(message.created_at.timestamp() * 1000)
    event = {
        "sender": {"id": account_id},
        "recipient": {"id": conversation.follower_id},
        "timestamp": milliseconds,
        "message": body,
    }
    return {"object": "instagram", "entry": [{"id": account_id, "time": milliseconds, "messaging": [event]}]}


# --- Meta-like delivery: outbox, batching, duplicates, reordering, retries -------------------

# Pauses before each retry of a failed outbox entry; after the last one the entry is given up.
OUTBOX_RETRY_DELAYS = (1.0, 2.0, 5.0, 15.0, 60.0, 300.0)
OUTBOX_POLL_SECONDS = 0.5
# A duplicate is sent this many seconds after the original (uniformly between the two).
DUPLICATE_DELAY_SECONDS = (0.5, 3.0)
# With reordering on, this many batches are claimed together and shuffled, so order breaks across POSTs too.
REORDER_WINDOW_BATCHES = 4


def webhook_emit(*, payload: dict[str, Any]) -> SandboxWebhookDelivery | None:
    """Send ``payload`` the way Meta would, under the sandbox's webhook settings and faults.

    Each entry may be dropped (a ``drop_webhooks`` fault) or duplicated
    (``webhook_duplicate_ratio``). With the defaults (one entry per POST, no
    duplicates, no reordering) the POST happens now, with ``webhook_deliver``'s
    bounded retries, and a delivery that still fails goes to the outbox for the
    sender loop to retry later. Otherwise every entry goes to the outbox and the
    sender loop batches (``webhook_batch_size``) and reorders them.
    """
    knobs = selectors.sandbox_settings()
    object_type = str(payload.get("object", "instagram"))
    entries = [entry for entry in payload.get("entry", []) if not _dropped()]
    if not entries:
        logger.info("Webhook dropped by a drop_webhooks fault")
        return None
    simple = knobs.webhook_batch_size <= 1 and not knobs.webhook_duplicate_ratio and not knobs.webhook_reorder_ratio
    if simple:
        delivery = webhook_deliver(payload={"object": object_type, "entry": entries})
        if not delivery.delivered:
            due = timezone.now() + timedelta(seconds=OUTBOX_RETRY_DELAYS[0])
            SandboxOutbox.objects.bulk_create(
                SandboxOutbox(object_type=object_type, entry=entry, due_at=due, attempts=1, last_error=delivery.error)
                for entry in entries
            )
        return delivery
    rows = []
    for entry in entries:
        rows.append(SandboxOutbox(object_type=object_type, entry=entry))
        if random.random() < knobs.webhook_duplicate_ratio:
            # Meta's duplicates come as separate, later deliveries.
            later = timezone.now() + timedelta(seconds=random.uniform(*DUPLICATE_DELAY_SECONDS))
            rows.append(SandboxOutbox(object_type=object_type, entry=entry, due_at=later))
    SandboxOutbox.objects.bulk_create(rows)
    return None


def _dropped() -> bool:
    fault = selectors.fault_matching(kinds={"drop_webhooks"}, method="POST", path="webhook", username="")
    if fault is None or random.random() >= (fault.ratio if fault.ratio is not None else 1.0):
        return False
    return sandbox_fault_consume(fault=fault)


def webhook_outbox_flush(*, max_posts: int = 50) -> int:
    """Send what is due in the outbox, ``webhook_batch_size`` entries per signed POST. Returns the POSTs made.

    Entries are claimed in a short transaction (``skip_locked``, so several
    sandbox processes never send one twice), shuffled when
    ``webhook_reorder_ratio`` says so, and POSTed one attempt each; a failed
    batch is rescheduled with growing delays and given up after
    ``len(OUTBOX_RETRY_DELAYS)`` retries.
    """
    knobs = selectors.sandbox_settings()
    batch_size = max(1, knobs.webhook_batch_size)
    window = batch_size * REORDER_WINDOW_BATCHES if knobs.webhook_reorder_ratio else batch_size
    posts = 0
    while posts < max_posts:
        with transaction.atomic():
            claimed = list(
                SandboxOutbox.objects.select_for_update(skip_locked=True)
                .filter(delivered_at__isnull=True, due_at__lte=timezone.now())
                .order_by("due_at", "id")[:window]
            )
            if not claimed:
                return posts
            # Claim: push them into the future so a concurrent flusher skips them while we POST.
            SandboxOutbox.objects.filter(pk__in=[row.pk for row in claimed]).update(
                due_at=timezone.now() + timedelta(seconds=TIMEOUT_SECONDS * 2 * REORDER_WINDOW_BATCHES)
            )
        if len(claimed) > 1 and random.random() < knobs.webhook_reorder_ratio:
            random.shuffle(claimed)
        for start in range(0, len(claimed), batch_size):
            by_object: dict[str, list[SandboxOutbox]] = {}
            for row in claimed[start : start + batch_size]:
                by_object.setdefault(row.object_type, []).append(row)
            for object_type, rows in by_object.items():
                posts += 1
                _outbox_post(object_type=object_type, rows=rows)
    return posts


def _outbox_post(*, object_type: str, rows: list[SandboxOutbox]) -> None:
    body = json.dumps({"object": object_type, "entry": [row.entry for row in rows]}, separators=(",", ":"))
    raw = body.encode("ascii")
    signature = webhook_signature(body=raw, secret=settings.INSTAGRAM_APP_SECRET)
    url = settings.SANDBOX_WEBHOOK_URL
    status, error = _post_once(url=url, body=raw, signature=signature)
    attempts = max(row.attempts for row in rows) + 1
    SandboxWebhookDelivery.objects.create(
        url=url, body=body, signature=signature, status=status, error=error, attempts=attempts
    )
    ids = [row.pk for row in rows]
    if not error:
        SandboxOutbox.objects.filter(pk__in=ids).update(delivered_at=timezone.now(), attempts=attempts, last_error="")
        return
    if attempts > len(OUTBOX_RETRY_DELAYS):
        logger.warning("Webhook outbox: giving up on %d entries after %d attempts: %s", len(ids), attempts, error)
        SandboxOutbox.objects.filter(pk__in=ids).update(attempts=attempts, last_error=f"gave up: {error}"[:500])
        SandboxOutbox.objects.filter(pk__in=ids).update(delivered_at=None, due_at=timezone.now() + timedelta(days=3650))
        return
    delay = OUTBOX_RETRY_DELAYS[attempts - 1] * random.uniform(0.8, 1.2)
    SandboxOutbox.objects.filter(pk__in=ids).update(
        attempts=attempts, last_error=error, due_at=timezone.now() + timedelta(seconds=delay)
    )


class WebhookSenderLoop(threading.Thread):
    """A daemon thread that flushes the outbox every ``OUTBOX_POLL_SECONDS`` until ``stop()``."""

    def __init__(self) -> None:
        super().__init__(name="sandbox-webhook-sender", daemon=True)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                close_old_connections()
                webhook_outbox_flush()
            except Exception:
                logger.exception("Webhook sender loop: flush failed; trying again")
            self._stopped.wait(OUTBOX_POLL_SECONDS)
        close_old_connections()

    def stop(self) -> None:
        self._stopped.set()


# --- Meta's app callbacks: deauthorize and data deletion request ----------------------------------------------

CALLBACK_TIMEOUT_SECONDS = 10.0
# The documented example's ``expires`` is one hour after its ``issued_at`` (privacy/tests/fixtures/).
CALLBACK_EXPIRES_SECONDS = 3600


def app_callback_payload(*, user_id: str, now: int | None = None) -> dict[str, Any]:
    """The ``signed_request`` payload Meta sends, with the documented example's fields (algorithm, expires,
    issued_at, user_id). Documented for the data deletion callback; Meta documents no other for deauthorize
    (privacy/tests/fixtures/README.md), so the sandbox sends the same for both."""
    issued_at = int(time.time()) if now is None else now
    return {
        "algorithm": SIGNED_REQUEST_ALGORITHM,
        "expires": issued_at + CALLBACK_EXPIRES_SECONDS,
        "issued_at": issued_at,
        "user_id": user_id,
    }


def app_callback_send(*, kind: str, user_id: str, username: str = "") -> SandboxAppCallback:
    """POST Meta's deauthorize or data deletion callback for ``user_id`` and record it with the app's answer.

    A form field ``signed_request`` signed with the app secret, to ``SANDBOX_DEAUTHORIZE_URL`` or
    ``SANDBOX_DATA_DELETION_URL``. One attempt (Meta documents no retries for these); never raises for a
    failed call: the record says what happened.
    """
    url = (
        settings.SANDBOX_DEAUTHORIZE_URL
        if kind == SandboxAppCallback.Kind.DEAUTHORIZE
        else settings.SANDBOX_DATA_DELETION_URL
    )
    signed_request = signed_request_build(
        payload=app_callback_payload(user_id=user_id), app_secret=settings.INSTAGRAM_APP_SECRET
    )
    status: int | None = None
    error = ""
    text = ""
    try:
        response = requests.post(url, data={"signed_request": signed_request}, timeout=CALLBACK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    else:
        status, text = response.status_code, response.text[:2000]
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    code, status_url = "", ""
    if kind == SandboxAppCallback.Kind.DATA_DELETION and not error:
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            code, status_url = str(answer.get("confirmation_code", ""))[:80], str(answer.get("url", ""))[:500]
    if error:
        logger.warning("The %s callback to %s failed: %s", kind, url, error)
    return SandboxAppCallback.objects.create(
        kind=kind,
        user_id=user_id,
        username=username,
        url=url,
        status=status,
        error=error,
        response=text,
        confirmation_code=code,
        status_url=status_url,
    )
