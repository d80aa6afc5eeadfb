"""Customer URLs (CRM webhooks, flow webhook steps, the AI endpoint) never reach private or local addresses."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from instaforge.outbound import OutboundRefused, outbound_post, outbound_url_problem
from integrations.models import DeliveryState, WebhookEndpoint
from integrations.services import crm_event_send, endpoint_create, webhook_delivery_attempt
from messaging.flows import steps_validate
from sandbox.testing import WebhookReceiver


@pytest.fixture
def guarded(settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False  # as in production (DEBUG off)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "http://10.1.2.3/",
        "https://192.168.0.10/",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_and_local_addresses_are_refused(guarded: None, url: str) -> None:
    problem = outbound_url_problem(url)
    assert problem is not None and "private or local address" in problem
    with pytest.raises(OutboundRefused):
        outbound_post(url, timeout=1)


def test_public_addresses_pass(guarded: None) -> None:
    assert outbound_url_problem("https://93.184.215.14/hook") is None
    assert outbound_url_problem("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook") is None


def test_a_name_that_turns_private_after_the_check_reaches_nothing(
    guarded: None, receiver: WebhookReceiver, monkeypatch
) -> None:
    """DNS rebinding: public to our check, loopback when connecting. The connection is pinned to what was checked."""
    port = int(receiver.url.rsplit(":", 1)[1].split("/", 1)[0])
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def rebinding(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "hooks.rebind.test":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(OutboundRefused, match="led to a private or local address"):
        outbound_post(f"http://hooks.rebind.test:{port}/hook", json={"x": 1}, timeout=2)
    assert receiver.requests == []


def test_development_allows_local_servers(settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = True
    assert outbound_url_problem("http://127.0.0.1:9/hook") is None


def test_a_crm_delivery_to_a_private_address_is_refused_and_nothing_is_sent(
    guarded: None, workspace, receiver: WebhookReceiver
) -> None:
    # Saved while allowed (or DNS changed since): the call itself is refused too.
    endpoint_create(workspace=workspace, url=receiver.url, event_kinds=["new_lead"])
    (delivery,) = crm_event_send(workspace=workspace, kind="new_lead", data={"commenter": {"username": "ana"}})

    assert webhook_delivery_attempt(delivery_id=delivery.pk) == DeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("OutboundRefused: 127.0.0.1 is a private or local address")
    assert receiver.requests == []


def test_the_forms_refuse_a_private_url(guarded: None, client: Client, make_user, make_workspace) -> None:
    user = make_user()
    make_workspace(owner=user)
    client.force_login(user)

    response = client.post(
        reverse("webhook_endpoints"), {"url": "http://169.254.169.254/", "event_kinds": ["new_lead"], "is_active": "on"}
    )

    assert response.status_code == 200 and "private or local address" in response.content.decode()
    assert not WebhookEndpoint.all_workspaces.exists()
    errors = steps_validate([{"id": "a", "type": "webhook", "url": "http://10.0.0.7/hook", "timeout": 5}])
    assert any("private or local address" in error for error in errors)
    response = client.post(
        reverse("messaging_settings"),
        {"ai_base_url": "http://127.0.0.1:11434", "ai_model": "llama", "handover_keywords": "human"},
    )
    assert "private or local address" in response.content.decode()
