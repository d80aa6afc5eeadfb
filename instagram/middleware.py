"""Meta's webhook deliveries go straight to their view, past the middleware only pages need.

A delivery is a JSON POST signed by Meta (or Meta's GET handshake): its view is exempt from CSRF and reads
no session, no signed-in user, no workspace, no message store, no member's time zone, and writes no audit
entry. The middleware that provides those did nothing for it but still ran on every delivery: about 0.7 ms
of the 2.5 ms of CPU an ack costs in-process, the most frequent request the product answers, and the one
whose latency Meta sees (docs/performance.md, "The webhook's lane").

This middleware sits after the middleware every response needs (the correlation id, the security headers,
the Content Security Policy, the NUL check) and before the rest. For the webhook's path it checks the host
as ``CommonMiddleware`` does (a host not in ``ALLOWED_HOSTS`` is a 400), calls the view, and sets the
headers ``CommonMiddleware`` (``Content-Length``) and ``XFrameOptionsMiddleware`` would have; every other
path goes on down the chain unchanged. An exception in the view is answered by Django's handler as before (a
500, reported).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from instagram.views import instagram_webhook


class WebhookLaneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._path: str | None = None  # the webhook's path, read from the URLconf on first use

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self._path is None:
            self._path = reverse("instagram_webhook")
        if request.path != self._path:
            return self.get_response(request)
        request.get_host()  # DisallowedHost (a 400) for a host this deployment does not serve
        response = instagram_webhook(request)
        response.headers.setdefault("X-Frame-Options", getattr(settings, "X_FRAME_OPTIONS", "DENY"))
        # As CommonMiddleware's: without it gunicorn would answer HTTP/1.1 in chunks.
        response.headers.setdefault("Content-Length", str(len(response.content)))
        return response
