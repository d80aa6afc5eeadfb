"""The webhook endpoint Meta calls: GET /webhooks/instagram/ (verification) and POST (deliveries)."""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, RawPostDataException
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from instaforge.correlation import correlation_bind
from instagram.services import MalformedDelivery, webhook_parse, webhook_store
from instagram.signatures import signature_is_valid
from observability.metrics import WEBHOOK_DELIVERIES, webhook_entries_count
from observability.services import webhook_refusal_record

logger = logging.getLogger(__name__)

# Meta's challenge is a number; anything much longer, or not printable, is not Meta's handshake.
CHALLENGE_MAX_LENGTH = 256


@csrf_exempt
@require_http_methods(["GET", "POST"])
def instagram_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify_subscription(request)
    try:
        body = request.body
    except RawPostDataException:
        # A form content type whose body a middleware has already parsed (looking for NULs, say): the raw
        # bytes the signature covers are gone. Meta sends JSON, never a form: refused, nothing written.
        _refused("bad_request")
        return HttpResponseBadRequest("a webhook delivery is JSON, not a form")
    if not signature_is_valid(
        body=body, header=request.headers.get("X-Hub-Signature-256"), secret=settings.INSTAGRAM_APP_SECRET
    ):
        logger.warning("Webhook with a bad or missing signature refused")
        _refused("bad_signature")
        return HttpResponseForbidden("invalid signature")
    try:
        changes = webhook_parse(body=body)
    except MalformedDelivery as exc:
        _refused("bad_request")
        return HttpResponseBadRequest(str(exc))
    webhook_entries_count(change.field for change in changes)
    # Stored (and committed) before the 200: a failure here makes Meta retry. Under the delivery's correlation
    # id (the request's, from CorrelationIdMiddleware; a new one if none is bound), which its events keep.
    with correlation_bind():
        try:
            summary = webhook_store(changes=changes)
        except Exception:
            _refused("error")  # a 500: Meta retries
            raise
        logger.info(
            "Webhook delivery stored: %d new events, %d delivered again, %d too old",
            summary.created,
            summary.redelivered,
            summary.stale,
        )
    WEBHOOK_DELIVERIES.labels(result="accepted").inc()
    return HttpResponse("EVENT_RECEIVED")


def _refused(result: str) -> None:
    """A delivery not taken: counted for /metrics and for the alert on refused deliveries (Meta retries it, and
    disables the subscription after about an hour of failures)."""
    WEBHOOK_DELIVERIES.labels(result=result).inc()
    webhook_refusal_record()


def _verify_subscription(request: HttpRequest) -> HttpResponse:
    """Meta's handshake: echo hub.challenge when hub.verify_token matches ours. 200, 400 or 403, never 500."""
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token")
    challenge = request.GET.get("hub.challenge", "")
    # Bytes compared in constant time (a non-ASCII str would make compare_digest raise); Django decodes the
    # query string with replacement characters, "surrogatepass" only keeps the encoding total.
    expected = settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN.encode("utf-8", "surrogatepass")
    if (
        mode != "subscribe"
        or token is None
        or not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), expected)
    ):
        return HttpResponseForbidden("verification failed")
    if not challenge or len(challenge) > CHALLENGE_MAX_LENGTH or not challenge.isprintable():
        return HttpResponseBadRequest("hub.challenge is missing or not a challenge Meta sends")
    return HttpResponse(challenge, content_type="text/plain")
