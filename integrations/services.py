"""Writes for outbound CRM webhooks: endpoints, events, signed deliveries with bounded retries.

Every event is stored first (one ``WebhookDelivery`` per subscribed endpoint,
with the exact body that is signed), then sent by a django-q2 task after
commit. A failed attempt is retried with exponential backoff by the
``integrations: retry webhook deliveries`` schedule, up to ``MAX_ATTEMPTS``;
the database decides what is due, so a lost broker message only delays a
delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import Workspace
from accounts.vault import TokenDecryptionError, token_decrypt, token_encrypt
from instaforge.batching import batch_read
from instaforge.outbound import OutboundError, outbound_post
from instaforge.redaction import secrets_redact
from instaforge.tasks import enqueue_on_commit
from integrations.models import DeliveryState, EventKind, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-InstaForge-Signature"
TIMESTAMP_HEADER = "X-InstaForge-Timestamp"
EVENT_HEADER = "X-InstaForge-Event"
DELIVERY_HEADER = "X-InstaForge-Delivery"
MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
REQUEST_TIMEOUT_SECONDS = 10
# An attempt holds its delivery this long; a worker that dies mid-attempt leaves it to be tried again after.
ATTEMPT_LEASE = timedelta(seconds=60)
ATTEMPT_TASK = "integrations.tasks.webhook_delivery_attempt_task"
UNSIGNABLE_REASON = (
    "not sent: the endpoint's signing secret cannot be decrypted with the configured keys; "
    "re-enter it on the endpoint's page, then re-send"
)


def signature_for(*, secret: str, body: bytes) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of the raw body with the endpoint's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_verify(*, secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (documented in docs/features/crm-webhooks.md): recompute and compare in constant time."""
    return hmac.compare_digest(signature_for(secret=secret, body=body), header)


def backoff_after(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, 4 min… at most an hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def _clean_kinds(event_kinds: list[str]) -> list[str]:
    unknown = sorted(set(event_kinds) - set(EventKind.values))
    if unknown:
        raise ValueError(f"Unknown event kinds: {', '.join(unknown)}")
    return sorted(set(event_kinds))


def endpoint_create(
    *, workspace: Workspace, url: str, event_kinds: list[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a fresh random secret (``endpoint_secret`` shows it)."""
    return WebhookEndpoint.all_workspaces.create(
        workspace=workspace,
        url=url,
        description=description,
        event_kinds=_clean_kinds(event_kinds),
        secret_encrypted=token_encrypt(plaintext="whsec_" + secrets.token_urlsafe(32)),
    )


def endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, event_kinds: list[str], description: str, is_active: bool
) -> WebhookEndpoint:
    endpoint.url = url
    endpoint.event_kinds = _clean_kinds(event_kinds)
    endpoint.description = description
    endpoint.is_active = is_active
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def endpoint_secret(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret. Raises ``TokenDecryptionError`` when no configured key reads it."""
    return token_decrypt(ciphertext=endpoint.secret_encrypted)


def endpoint_secret_readable(*, endpoint: WebhookEndpoint) -> str | None:
    """The signing secret, or None when no configured key decrypts it (it must be entered again)."""
    try:
        return endpoint_secret(endpoint=endpoint)
    except TokenDecryptionError:
        return None


SECRET_MIN_LENGTH = 16
SECRET_MAX_LENGTH = 200


def endpoint_secret_set(*, endpoint: WebhookEndpoint, secret: str) -> None:
    """Store a secret entered by a person (the one their CRM already verifies with), encrypted.

    For an endpoint whose secret no key can read any more: re-entering the CRM's
    copy restores signing without changing the CRM. Raises ``ValueError`` for a
    secret that is too short, too long or contains spaces.
    """
    secret = secret.strip()
    if not SECRET_MIN_LENGTH <= len(secret) <= SECRET_MAX_LENGTH or any(char.isspace() for char in secret):
        raise ValueError(f"A signing secret has {SECRET_MIN_LENGTH} to {SECRET_MAX_LENGTH} characters and no spaces.")
    endpoint.secret_encrypted = token_encrypt(plaintext=secret)
    endpoint.save(update_fields=["secret_encrypted"])


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> str:
    """A new secret; deliveries signed from now on use it."""
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint.secret_encrypted = token_encrypt(plaintext=secret)
    endpoint.save(update_fields=["secret_encrypted"])
    return secret


def crm_event_send(*, workspace: Workspace | int, kind: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Send one event to every active endpoint of ``workspace`` subscribed to ``kind``.

    Stores one delivery per endpoint (all with the same event id and body) and
    enqueues their first attempt after commit. Never raises for a network
    problem: sending happens later, in a task. Returns the deliveries (none
    when no endpoint wants the kind).
    """
    if kind not in EventKind.values:
        raise ValueError(f"unknown CRM event kind {kind!r}")
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    active = batch_read(
        ("crm_endpoints", workspace_id),
        lambda: list(WebhookEndpoint.all_workspaces.filter(workspace_id=workspace_id, is_active=True)),
    )
    endpoints = [endpoint for endpoint in active if kind in endpoint.event_kinds]
    if not endpoints:
        return []
    event_id = uuid.uuid4()
    document = {
        "id": str(event_id),
        "kind": kind,
        "created_at": timezone.now().isoformat(),
        "workspace_id": workspace_id,
        "data": data,
    }
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery.all_workspaces.create(
            workspace_id=workspace_id, endpoint=endpoint, event_id=event_id, event_kind=kind, body=body
        )
        enqueue_on_commit(ATTEMPT_TASK, delivery.pk)
        deliveries.append(delivery)
    return deliveries


def _claim(delivery_id: int, now: datetime) -> bool:
    return bool(
        WebhookDelivery.all_workspaces.filter(
            pk=delivery_id, state=DeliveryState.PENDING, next_attempt_at__lte=now
        ).update(state=DeliveryState.SENDING, next_attempt_at=now + ATTEMPT_LEASE)
    )


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """Make one attempt of a due delivery and record it. Safe to run twice: only the claimer sends.

    2xx is success. Anything else (a status, a timeout, a refused connection)
    schedules the next attempt with backoff, or gives up after ``MAX_ATTEMPTS``.
    A signing secret that no configured key decrypts fails the delivery at once,
    with that reason, and sends nothing. Returns the delivery's new state (or ``"not due"``).
    """
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return "not due"
    delivery = WebhookDelivery.all_workspaces.select_related("endpoint").get(pk=delivery_id)
    body = delivery.body.encode()
    secret = endpoint_secret_readable(endpoint=delivery.endpoint)
    if secret is None:
        # Nothing is sent unsigned, and waiting would not help: the delivery fails now, saying why (it can be
        # re-sent from the log once the secret is entered again), instead of staying "sending".
        WebhookDelivery.all_workspaces.filter(pk=delivery_id, state=DeliveryState.SENDING).update(
            state=DeliveryState.FAILED,
            attempts=delivery.attempts + 1,
            next_attempt_at=None,
            last_status_code=None,
            last_response_excerpt="",
            last_error=UNSIGNABLE_REASON,
        )
        return str(DeliveryState.FAILED)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "InstaForge-Webhooks/1",
        SIGNATURE_HEADER: signature_for(secret=secret, body=body),
        TIMESTAMP_HEADER: str(int(time.time())),
        EVENT_HEADER: delivery.event_kind,
        DELIVERY_HEADER: str(delivery.event_id),
    }
    status_code: int | None = None
    excerpt = ""
    error = ""
    try:
        response = outbound_post(delivery.endpoint.url, data=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
        status_code = response.status_code
        excerpt = secrets_redact(response.text[:500])
        if not 200 <= status_code < 300:
            error = f"the endpoint answered HTTP {status_code}"
    except OutboundError as exc:
        # requests' texts hold the endpoint's URL, query string included: redacted before it is stored.
        error = secrets_redact(f"{type(exc).__name__}: {exc}")[:500]
    attempts = delivery.attempts + 1
    finished = max(now, timezone.now())
    update: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_response_excerpt": excerpt,
        "last_error": error,
    }
    if not error:
        update.update(state=DeliveryState.SUCCEEDED, delivered_at=finished, next_attempt_at=None)
    elif attempts >= MAX_ATTEMPTS:
        update.update(state=DeliveryState.FAILED, next_attempt_at=None)
    else:
        update.update(state=DeliveryState.PENDING, next_attempt_at=finished + backoff_after(attempts))
    WebhookDelivery.all_workspaces.filter(pk=delivery_id, state=DeliveryState.SENDING).update(**update)
    return str(update["state"])


def webhook_deliveries_retry(*, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """The retry sweep: free attempts whose worker died, then attempt every due delivery (oldest first)."""
    now = now or timezone.now()
    WebhookDelivery.all_workspaces.filter(state=DeliveryState.SENDING, next_attempt_at__lt=now).update(
        state=DeliveryState.PENDING
    )
    due = WebhookDelivery.all_workspaces.filter(Q(state=DeliveryState.PENDING) & Q(next_attempt_at__lte=now)).order_by(
        "next_attempt_at", "id"
    )
    outcomes: dict[str, int] = {}
    for delivery_id in list(due.values_list("pk", flat=True)[:limit]):
        outcome = webhook_delivery_attempt(delivery_id=delivery_id, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def webhook_delivery_resend(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event again, as a new delivery with the same event id and body (receivers may dedupe)."""
    copy = WebhookDelivery.all_workspaces.create(
        workspace_id=delivery.workspace_id,
        endpoint=delivery.endpoint,
        event_id=delivery.event_id,
        event_kind=delivery.event_kind,
        body=delivery.body,
        resent_from=delivery,
    )
    enqueue_on_commit(ATTEMPT_TASK, copy.pk)
    return copy


def endpoint_ping(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A test event to one endpoint, whatever it subscribes to."""
    body = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "kind": EventKind.PING,
            "created_at": timezone.now().isoformat(),
            "workspace_id": endpoint.workspace_id,
            "data": {"message": "A test event from InstaForge."},
        },
        separators=(",", ":"),
        sort_keys=True,
    )
    delivery = WebhookDelivery.all_workspaces.create(
        workspace_id=endpoint.workspace_id,
        endpoint=endpoint,
        event_id=json.loads(body)["id"],
        event_kind=EventKind.PING,
        body=body,
    )
    enqueue_on_commit(ATTEMPT_TASK, delivery.pk)
    return delivery
