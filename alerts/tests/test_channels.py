"""The channels: email (Django's outbox), Slack-compatible webhooks (a local HTTP receiver), failures retried."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Membership, Role
from alerts.conditions import Condition, Finding, condition_by_key
from alerts.models import (
    Alert,
    AlertNotification,
    AlertScope,
    AlertSettings,
    NotificationAudience,
    NotificationChannel,
    NotificationState,
)
from alerts.services import (
    NOTIFICATION_MAX_ATTEMPTS,
    alert_open,
    alert_settings_slack_set,
    alert_settings_slack_url,
    alerts_sweep,
)
from safety.services import global_kill_switch_set, kill_switch_set
from sandbox.testing import WebhookReceiver


@pytest.fixture
def receiver(settings) -> Iterator[WebhookReceiver]:
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    server = WebhookReceiver().start()
    yield server
    server.stop()


def kill_switch_sweep() -> dict[str, int]:
    condition = condition_by_key("kill_switch")
    assert condition is not None
    return alerts_sweep(conditions=(condition,))


def _texts(receiver: WebhookReceiver) -> list[str]:
    return [json.loads(request.body)["text"] for request in receiver.requests]


def test_a_workspace_alert_is_posted_to_its_slack_webhook_opened_and_resolved(workspace, receiver) -> None:
    alert_settings_slack_set(workspace_id=workspace.pk, url=receiver.url)
    kill_switch_set(workspace_id=workspace.pk, stopped=True, reason="holiday", actor=None)
    kill_switch_sweep()
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    [opened] = _texts(receiver)
    assert "Alert: Sending is stopped for the whole workspace" in opened and "holiday" in opened
    alert = Alert.all_workspaces.get()
    assert f"/alerts/{alert.pk}/" in opened
    kill_switch_set(workspace_id=workspace.pk, stopped=False, actor=None)
    kill_switch_sweep()
    assert "Resolved: Sending is stopped for the whole workspace" in _texts(receiver)[1]
    assert len(mail.outbox) == 2  # and by email, both times


def test_the_workspace_slack_url_is_stored_encrypted(workspace) -> None:
    url = "https://hooks.slack.com/services/T000/B000/very-secret"
    alert_settings_slack_set(workspace_id=workspace.pk, url=url)
    stored = AlertSettings.all_workspaces.get(workspace=workspace).slack_webhook_url_encrypted
    assert "very-secret" not in stored and stored.startswith("gAAAA")
    assert alert_settings_slack_url(workspace_id=workspace.pk) == url
    alert_settings_slack_set(workspace_id=workspace.pk, url="")
    assert alert_settings_slack_url(workspace_id=workspace.pk) == ""


def test_platform_alerts_go_to_the_operators_email_and_the_platform_slack(
    db, settings, receiver, make_user, workspace
) -> None:
    settings.ALERTS_OPERATOR_EMAILS = []
    settings.ALERTS_SLACK_WEBHOOK_URL = receiver.url
    staff = make_user("staff@example.com")
    staff.is_staff = True
    staff.save()
    retired = make_user("retired@example.com")
    retired.is_staff, retired.is_active = True, False
    retired.save()
    global_kill_switch_set(stopped=True, reason="Meta incident", actor=None)
    condition = condition_by_key("global_kill_switch")
    assert condition is not None
    alerts_sweep(conditions=(condition,))
    [message] = mail.outbox
    assert message.to == ["staff@example.com"]  # active staff only; no workspace member
    assert "/admin/alerts/alert/" in message.body
    assert "Meta incident" in _texts(receiver)[0]


def test_a_failing_slack_webhook_is_retried_next_sweep_and_never_stops_the_sweep(workspace, receiver, caplog) -> None:
    url = receiver.url + "secret-path-part"
    alert_settings_slack_set(workspace_id=workspace.pk, url=url)
    receiver.respond_with = [500]
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    with caplog.at_level(logging.WARNING, logger="alerts.services"):
        counts = kill_switch_sweep()
    assert counts["opened"] == 1 and counts["sent"] == 1 and counts["failed"] == 1  # the email went anyway
    slack = AlertNotification.all_workspaces.get(channel=NotificationChannel.SLACK)
    assert slack.state == NotificationState.PENDING and slack.attempts == 1
    assert "HTTP 500" in slack.last_error
    assert "secret-path-part" not in slack.last_error and "secret-path-part" not in caplog.text
    assert "failed" in caplog.text
    assert len(mail.outbox) == 1

    counts = kill_switch_sweep()  # the next sweep tries again; the alert itself is kept, not reopened
    assert counts["sent"] == 1 and counts["opened"] == 0
    slack.refresh_from_db()
    assert slack.state == NotificationState.SENT and slack.attempts == 2
    assert len(receiver.requests) == 2 and len(mail.outbox) == 1


def test_a_private_slack_url_is_refused_when_called(workspace, settings) -> None:
    settings.OUTBOUND_ALLOW_PRIVATE_URLS = False
    alert_settings_slack_set(workspace_id=workspace.pk, url="http://127.0.0.1:9/hook")
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    assert kill_switch_sweep()["failed"] == 1
    slack = AlertNotification.all_workspaces.get(channel=NotificationChannel.SLACK)
    assert "refused" in slack.last_error and "/hook" not in slack.last_error


def test_a_failing_mail_server_is_retried_and_given_up_after_the_last_attempt(workspace, monkeypatch) -> None:
    def refuse(**kwargs: object) -> None:
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("alerts.channels.send_mail", refuse)
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    kill_switch_sweep()
    email = AlertNotification.all_workspaces.get(channel=NotificationChannel.EMAIL)
    assert email.state == NotificationState.PENDING and "mail server down" in email.last_error
    AlertNotification.all_workspaces.update(attempts=NOTIFICATION_MAX_ATTEMPTS - 1)
    kill_switch_sweep()
    email.refresh_from_db()
    assert email.state == NotificationState.FAILED and email.attempts == NOTIFICATION_MAX_ATTEMPTS
    assert kill_switch_sweep()["failed"] == 0  # given up: not tried again


def test_members_who_are_not_owners_or_admins_get_no_email(workspace, make_user) -> None:
    member = make_user("member@example.com")
    admin = make_user("admin@example.com")
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    Membership.all_workspaces.create(workspace=workspace, user=admin, role=Role.ADMIN)
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    kill_switch_sweep()
    [message] = mail.outbox
    assert "admin@example.com" in message.to and "member@example.com" not in message.to


def _broken(now: datetime) -> list[Finding]:
    raise RuntimeError("the read failed")


def test_a_condition_that_fails_to_read_stops_nothing_and_resolves_nothing(workspace, caplog) -> None:
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    kill_switch_sweep()
    broken_kill_switch = Condition("kill_switch", AlertScope.WORKSPACE, "Kill switch on", _broken)
    global_kill_switch_set(stopped=True, actor=None)
    global_condition = condition_by_key("global_kill_switch")
    assert global_condition is not None
    counts = alerts_sweep(conditions=(broken_kill_switch, global_condition))
    assert counts["opened"] == 1 and counts["resolved"] == 0
    assert Alert.all_workspaces.filter(condition="kill_switch", resolved_at__isnull=True).exists()
    assert "kill_switch could not be evaluated" in caplog.text


def test_two_sweeps_opening_the_same_alert_open_it_once(workspace) -> None:
    condition = condition_by_key("kill_switch")
    assert condition is not None
    finding = Finding(f"workspace:{workspace.pk}", workspace.pk, "Sending is stopped")
    assert alert_open(condition=condition, finding=finding, now=timezone.now()) is not None
    assert alert_open(condition=condition, finding=finding, now=timezone.now()) is None
    assert Alert.all_workspaces.count() == 1
    assert AlertNotification.all_workspaces.filter(audience=NotificationAudience.WORKSPACE).count() == 1
