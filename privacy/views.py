"""Meta's deauthorize and data deletion callbacks and the public deletion status page (owners' pages: pages.py).

The callbacks (set in Meta's App Dashboard, docs/features/data-lifecycle.md) are POSTs with a form field
``signed_request`` signed with the app secret. A request that is not Meta's is refused before anything is
read or written: 400 when it is not a signed request at all, 403 when the signature does not match; each
refusal is counted (``instaforge_meta_callbacks_total``) and added to the refused-deliveries figure the
alerts watch, as a refused webhook is (a wrong INSTAGRAM_APP_SECRET shows up there first).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from instagram.signatures import SignedRequestBadSignature, SignedRequestInvalid, signed_request_parse
from observability.metrics import META_CALLBACKS
from observability.services import webhook_refusal_record
from privacy.selectors import deletion_request_by_code
from privacy.services import account_deauthorize, deletion_request_open

logger = logging.getLogger(__name__)


def _user_id_or_refusal(request: HttpRequest, *, callback: str) -> str | HttpResponse:
    """The Instagram user id of a genuine ``signed_request``, or the refusal to answer with (nothing done)."""
    try:
        payload = signed_request_parse(
            signed_request=request.POST.get("signed_request", ""), app_secret=settings.INSTAGRAM_APP_SECRET
        )
    except SignedRequestBadSignature as exc:
        logger.warning("Meta %s callback refused: %s", callback, exc)
        _refused(callback=callback, result="bad_signature")
        return HttpResponseForbidden("invalid signature")
    except SignedRequestInvalid as exc:
        logger.warning("Meta %s callback refused: %s", callback, exc)
        _refused(callback=callback, result="bad_request")
        return HttpResponseBadRequest(str(exc))
    return str(payload["user_id"])


def _refused(*, callback: str, result: str) -> None:
    META_CALLBACKS.labels(callback=callback, result=result).inc()
    webhook_refusal_record()


@csrf_exempt
@require_POST
def instagram_deauthorize(request: HttpRequest) -> HttpResponse:
    """Meta's Deauthorize callback: the person removed the app from their Instagram account. 200, 400 or 403."""
    user_id = _user_id_or_refusal(request, callback="deauthorize")
    if isinstance(user_id, HttpResponse):
        return user_id
    try:
        account = account_deauthorize(ig_user_id=user_id)
    except Exception:
        META_CALLBACKS.labels(callback="deauthorize", result="error").inc()
        webhook_refusal_record()
        raise
    META_CALLBACKS.labels(callback="deauthorize", result="accepted" if account else "unknown_user").inc()
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
@require_POST
def instagram_data_deletion(request: HttpRequest) -> HttpResponse:
    """Meta's Data Deletion Request callback: ``{"url": <status page>, "confirmation_code": <code>}``.

    The deletion runs in the background; asked again for the same person while it is pending, the same code.
    """
    user_id = _user_id_or_refusal(request, callback="data_deletion")
    if isinstance(user_id, HttpResponse):
        return user_id
    try:
        deletion, created = deletion_request_open(ig_user_id=user_id)
    except Exception:
        META_CALLBACKS.labels(callback="data_deletion", result="error").inc()
        webhook_refusal_record()
        raise
    META_CALLBACKS.labels(callback="data_deletion", result="accepted" if created else "pending_again").inc()
    status_path = reverse("deletion_status", args=[deletion.confirmation_code])
    return JsonResponse({"url": f"{settings.SITE_URL}{status_path}", "confirmation_code": deletion.confirmation_code})


@require_GET
def deletion_status(request: HttpRequest, confirmation_code: str) -> HttpResponse:
    """The public status of a data deletion request, found by its code: pending or done, with what was deleted.

    No login (the person asking has no InstaForge account) and nothing that names a workspace or an account;
    not for search engines.
    """
    deletion = deletion_request_by_code(confirmation_code=confirmation_code)
    if deletion is None:
        raise Http404("No data deletion request has this confirmation code")
    summary = sorted((kind.replace("_", " "), count) for kind, count in deletion.summary.items() if count)
    response = render(
        request,
        "privacy/deletion_status.html",
        {"deletion": deletion, "summary": summary, "total": sum(count for _, count in summary)},
    )
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    return response
