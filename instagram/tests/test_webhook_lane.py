"""The webhook's lane (instagram/middleware.py): deliveries skip the pages' middleware, nothing else changes."""

from __future__ import annotations

from unittest import mock

import pytest
from django.conf import settings
from django.core.signals import got_request_exception
from django.test import Client
from django.urls import reverse

from instagram.models import InboundEvent
from instagram.signatures import signature_for
from instagram.tests.test_webhooks import URL, documented_comment_delivery, post_signed

LANE = "instagram.middleware.WebhookLaneMiddleware"


def test_the_lane_comes_after_the_middleware_every_response_needs_and_before_the_pages() -> None:
    order = settings.MIDDLEWARE
    lane = order.index(LANE)
    for needed in (
        "instaforge.correlation.CorrelationIdMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "instaforge.csp.ContentSecurityPolicyMiddleware",
        "instaforge.middleware.NulCharacterMiddleware",
    ):
        assert order.index(needed) < lane
    for skipped in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "accounts.middleware.WorkspaceMiddleware",
        "auditlog.middleware.AuditlogMiddleware",
    ):
        assert order.index(skipped) > lane
    assert reverse("instagram_webhook") == URL


@pytest.mark.django_db(transaction=True)
def test_a_delivery_is_stored_and_answered_with_the_headers_of_every_response(client: Client) -> None:
    with mock.patch("django.contrib.sessions.middleware.SessionMiddleware.process_request") as session:
        response = post_signed(client, documented_comment_delivery())
    assert response.status_code == 200
    assert response.content == b"EVENT_RECEIVED"
    assert InboundEvent.objects.count() == 1
    session.assert_not_called()  # the pages' middleware did not run
    assert response["X-Request-ID"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Content-Length"] == "14"  # not chunked
    assert "Content-Security-Policy" in response
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response
    assert InboundEvent.objects.get().correlation_id == response["X-Request-ID"]


def test_the_handshake_goes_through_the_lane(client: Client) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN,
        "hub.challenge": "7",
    }
    response = client.get(URL, params)
    assert (response.status_code, response.content) == (200, b"7")


@pytest.mark.django_db
def test_a_host_this_deployment_does_not_serve_is_a_400_and_nothing_is_stored(client: Client) -> None:
    body = documented_comment_delivery()
    signature = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"X-Hub-Signature-256": signature},
        HTTP_HOST="attacker.example",
    )
    assert response.status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_a_nul_is_refused_before_the_lane(client: Client) -> None:
    response = client.get(URL, {"hub.mode": "subscribe\x00"})
    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.django_db
def test_other_methods_and_a_bad_signature_are_refused_as_before(client: Client) -> None:
    assert client.put(URL, data=b"{}", content_type="application/json").status_code == 405
    response = post_signed(client, documented_comment_delivery(), secret="not-the-app-secret")
    assert response.status_code == 403
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_a_failure_in_the_view_is_a_reported_500(client: Client) -> None:
    reported: list[object] = []

    def receiver(sender: object, **kwargs: object) -> None:
        reported.append(kwargs.get("request"))

    got_request_exception.connect(receiver)
    client.raise_request_exception = False
    try:
        with mock.patch("instagram.views.webhook_store", side_effect=RuntimeError("database gone")):
            response = post_signed(client, documented_comment_delivery())
    finally:
        got_request_exception.disconnect(receiver)
    assert response.status_code == 500
    assert len(reported) == 1


@pytest.mark.django_db
def test_other_paths_still_get_the_pages_middleware(client: Client) -> None:
    with mock.patch("django.contrib.sessions.middleware.SessionMiddleware.process_request", autospec=True) as session:
        session.side_effect = lambda middleware, request: setattr(request, "session", middleware.SessionStore(None))
        client.get("/webhooks/instagram")  # no slash: not the webhook's path
        client.get("/accounts/login/")
    assert session.call_count == 2
