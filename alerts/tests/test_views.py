"""The alert pages: the workspace's open and past alerts, an alert, its channels; the operators' admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Role
from alerts.models import Alert, AlertScope
from alerts.services import alert_settings_slack_url
from tests.factories import UserFactory


def _alert(workspace, *, title: str, resolved: bool = False, condition: str = "kill_switch", number: int = 0) -> Alert:
    now = timezone.now()
    return Alert.all_workspaces.create(
        workspace=workspace,
        scope=AlertScope.WORKSPACE if workspace else AlertScope.PLATFORM,
        condition=condition,
        subject=f"subject:{number}",
        title=title,
        opened_at=now - timedelta(hours=1),
        resolved_at=now if resolved else None,
    )


@pytest.fixture
def owner_client(client: Client, make_user, make_workspace):
    user = make_user()
    workspace = make_workspace(owner=user)
    client.force_login(user)
    return client, workspace


def test_the_page_lists_open_and_past_alerts_of_the_workspace_only(
    owner_client, make_workspace, django_assert_max_num_queries
) -> None:
    client, workspace = owner_client
    for number in range(5):
        _alert(workspace, title=f"open alert {number}", number=number)
        _alert(workspace, title=f"past alert {number}", resolved=True, number=number)
    _alert(make_workspace("Other"), title="someone else's", number=99)
    _alert(None, title="the platform's heartbeat", number=98)
    with django_assert_max_num_queries(10):
        page = client.get(reverse("alert_list")).content.decode()
    assert page.count('data-testid="open-alert"') == 5 and page.count('data-testid="past-alert"') == 5
    assert "open alert 4" in page and "past alert 0" in page and "Kill switch on" in page
    assert "someone else's" not in page and "heartbeat" not in page
    assert 'data-testid="nav-alerts"' in page


def test_the_past_alerts_filter_by_condition(owner_client) -> None:
    client, workspace = owner_client
    _alert(workspace, title="post-title-1", resolved=True, condition="publish_failed")
    _alert(workspace, title="switch-title-2", resolved=True, condition="kill_switch", number=1)
    page = client.get(reverse("alert_list"), {"condition": "publish_failed"}).content.decode()
    assert "post-title-1" in page and "switch-title-2" not in page
    assert "switch-title-2" in client.get(reverse("alert_list"), {"condition": "nonsense"}).content.decode()


def test_empty_states(owner_client) -> None:
    client, _ = owner_client
    page = client.get(reverse("alert_list")).content.decode()
    assert 'data-testid="no-open-alerts"' in page and 'data-testid="no-past-alerts"' in page


def test_a_member_sees_alerts_and_marks_one_seen(client: Client, make_workspace) -> None:
    workspace = make_workspace()
    member = UserFactory.create(email="member@example.com")
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    alert = _alert(workspace, title="stopped")
    assert "stopped" in client.get(reverse("alert_list")).content.decode()
    response = client.post(reverse("alert_acknowledge", args=[alert.pk]))
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == member and alert.is_open  # seen, still open until its cause clears
    page = client.get(reverse("alert_detail", args=[alert.pk])).content.decode()
    assert 'data-testid="alert-acknowledged"' in page
    assert client.get(reverse("alert_settings")).status_code == 403  # channels: owners and admins only


def test_another_workspace_cannot_see_or_acknowledge_an_alert(owner_client, make_workspace) -> None:
    client, _ = owner_client
    theirs = _alert(make_workspace("Other"), title="theirs")
    platform = _alert(None, title="platform", number=1)
    for alert in (theirs, platform):
        assert client.get(reverse("alert_detail", args=[alert.pk])).status_code == 404
        assert client.post(reverse("alert_acknowledge", args=[alert.pk])).status_code == 404
        alert.refresh_from_db()
        assert alert.acknowledged_at is None


def test_the_owner_sets_and_removes_the_slack_webhook(owner_client, settings) -> None:
    client, workspace = owner_client
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    refused = client.post(reverse("alert_settings"), {"slack_webhook_url": "http://127.0.0.1:8080/hook"})
    assert refused.status_code == 200 and "private or local address" in refused.content.decode()
    assert alert_settings_slack_url(workspace_id=workspace.pk) == ""
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = True  # (no DNS in the sandbox: a public name is not looked up here)
    url = "https://hooks.slack.com/services/T1/B2/very-secret"
    assert client.post(reverse("alert_settings"), {"slack_webhook_url": url}).status_code == 302
    assert alert_settings_slack_url(workspace_id=workspace.pk) == url
    page = client.get(reverse("alert_settings")).content.decode()
    assert "https://hooks.slack.com/" in page and "very-secret" not in page
    client.post(reverse("alert_settings"), {"slack_webhook_url": "", "remove_slack": "on"})
    assert alert_settings_slack_url(workspace_id=workspace.pk) == ""


def test_the_admin_lists_every_alert_read_only_with_filters(
    client: Client, make_user, make_workspace, admin_login, django_assert_max_num_queries
) -> None:
    operator = make_user("operator@example.com")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    admin_login(client, operator)
    workspace = make_workspace()
    for number in range(5):
        _alert(workspace, title=f"workspace alert {number}", number=number)
    _alert(None, title="No dispatcher is alive", condition="heartbeat_missing", number=9)
    past = _alert(None, title="an old backlog", condition="inbound_backlog", resolved=True, number=10)
    url = reverse("admin:alerts_alert_changelist")
    with django_assert_max_num_queries(20):
        page = client.get(url).content.decode()
    assert "workspace alert 3" in page and "No dispatcher is alive" in page and "an old backlog" in page
    open_only = client.get(url, {"status": "open"}).content.decode()
    assert "an old backlog" not in open_only and "No dispatcher is alive" in open_only
    heartbeats = client.get(url, {"condition": "heartbeat_missing"}).content.decode()
    assert "No dispatcher is alive" in heartbeats and "workspace alert" not in heartbeats
    assert client.get(reverse("admin:alerts_alert_change", args=[past.pk])).status_code == 200
    assert client.get(reverse("admin:alerts_alert_add")).status_code == 403
