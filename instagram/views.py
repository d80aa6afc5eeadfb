"""The webhook endpoint Meta calls: GET /webhooks/instagram/ (verification) and POST (deliveries)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from instagram.services import MalformedDelivery, webhook_parse, webhook_store
from instagram.signatures import signature_is_valid

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def instagram_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify_subscription(request)
    body = request.body
    if not signature_is_valid(
        body=body, header=request.headers.get("X-Hub-Signature-256"), secret=settings.INSTAGRAM_APP_SECRET
    ):
        logger.warning("Webhook with a bad or missing signature refused")
        return HttpResponseForbidden("invalid signature")
    try:
        changes = webhook_parse(body=body)
    except MalformedDelivery as exc:
        return HttpResponseBadRequest(str(exc))
    # Stored (and committed) before the 200: a failure here makes Meta retry.
    webhook_store(changes=changes)
    return HttpResponse("EVENT_RECEIVED")


def _verify_subscription(request: HttpRequest) -> HttpResponse:
    """Meta's handshake: echo hub.challenge when hub.verify_token matches ours."""
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token")
    challenge = request.GET.get("hub.challenge", "")
    if mode == "subscribe" and token == settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN:
        return HttpResponse(challenge, content_type="text/plain")
    return HttpResponseForbidden("verification failed")
