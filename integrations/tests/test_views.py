"""The integrations pages: add an endpoint, see its secret, send a test, read the log, re-send."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from integrations.services import crm_event_send, endpoint_create, endpoint_secret


@pytest.fixture
def owner_client(client: Client, make_user, make_workspace):
    user = make_user()
    workspace = make_workspace(owner=user)
    client.force_login(user)
    return client, workspace


def test_empty_states(owner_client) -> None:
    client, _ = owner_client
    assert 'data-testid="endpoints-empty"' in client.get(reverse("webhook_endpoints")).content.decode()
    assert 'data-testid="deliveries-empty"' in client.get(reverse("webhook_deliveries")).content.decode()


def test_add_an_endpoint_and_see_its_secret(owner_client) -> None:
    client, workspace = owner_client
    response = client.post(
        reverse("webhook_endpoints"),
        {"url": "https://crm.example.com/hook", "event_kinds": ["new_lead", "hand_over"], "is_active": "on"},
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.all_workspaces.get(workspace=workspace)
    assert endpoint.event_kinds == ["hand_over", "new_lead"]
    page = client.get(response["Location"]).content.decode()
    assert endpoint_secret(endpoint=endpoint) in page
    bad = client.post(reverse("webhook_endpoints"), {"url": "ftp://x", "event_kinds": []})
    assert bad.status_code == 200 and "This field is required." in bad.content.decode()


def test_the_log_shows_attempts_and_resends(owner_client, django_assert_max_num_queries) -> None:
    client, workspace = owner_client
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/hook", event_kinds=["new_lead"])
    for _ in range(5):
        crm_event_send(workspace=workspace, kind="new_lead", data={})
    WebhookDelivery.all_workspaces.update(
        state=DeliveryState.FAILED, attempts=6, last_status_code=502, last_response_excerpt="bad gateway"
    )
    with django_assert_max_num_queries(10):
        page = client.get(reverse("webhook_deliveries")).content.decode()
    assert page.count('data-testid="delivery-row"') == 5
    assert "HTTP 502" in page and "bad gateway" in page and "Gave up" in page
    delivery = WebhookDelivery.all_workspaces.first()
    assert delivery is not None
    response = client.post(reverse("webhook_delivery_resend", args=[delivery.pk]))
    assert response.status_code == 302
    assert WebhookDelivery.all_workspaces.filter(resent_from=delivery, state=DeliveryState.PENDING).count() == 1


def test_members_who_cannot_manage_see_the_log_but_cannot_change_endpoints(
    client: Client, make_user, make_workspace
) -> None:
    from accounts.models import Membership

    owner = make_user()
    workspace = make_workspace(owner=owner)
    member = make_user()
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    endpoint = endpoint_create(workspace=workspace, url="http://127.0.0.1:9/hook", event_kinds=["new_lead"])
    client.force_login(member)
    assert client.get(reverse("webhook_deliveries")).status_code == 200
    assert client.get(reverse("webhook_endpoint_edit", args=[endpoint.pk])).status_code == 403
    client.post(reverse("webhook_endpoints"), {"url": "https://evil.example", "event_kinds": ["new_lead"]})
    assert WebhookEndpoint.all_workspaces.count() == 1
