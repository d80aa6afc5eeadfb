"""Each condition: it opens one alert (and its "opened" messages), a second sweep opens no second one, and the
alert resolves, with a "resolved" message, once the state clears."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Membership, Role, Workspace
from accounts.services import account_approve, account_mark_error, account_suspend
from alerts.conditions import CONDITIONS, condition_by_key
from alerts.models import Alert, AlertNotification, AlertScope, NotificationState
from alerts.services import alerts_sweep
from instagram.models import InboundEvent, InboundEventState
from integrations.models import DeliveryState, WebhookDelivery
from integrations.services import endpoint_create
from observability.models import Heartbeat, HeartbeatRole
from observability.services import webhook_refusal_record
from publishing.models import PostState, ScheduledPost
from safety.models import SafetyEvent, SafetyEventKind
from safety.services import global_kill_switch_set, kill_switch_set, rate_limit_observe

OPERATORS = "ops@example.com"


@pytest.fixture(autouse=True)
def _operators(settings) -> None:
    settings.ALERTS_OPERATOR_EMAILS = [OPERATORS]
    settings.ALERTS_SLACK_WEBHOOK_URL = ""


def _owner_email(workspace: Workspace) -> str:
    return Membership.all_workspaces.get(workspace=workspace, role=Role.OWNER).user.email


def sweep(key: str, now: datetime | None = None) -> dict[str, int]:
    condition = condition_by_key(key)
    assert condition is not None
    return alerts_sweep(now=now, conditions=(condition,))


def lifecycle(
    key: str,
    *,
    start: Callable[[], object],
    clear: Callable[[], object],
    recipients: set[str],
    workspace: Workspace | None,
    subject: str,
    now: datetime | None = None,
    cleared_at: datetime | None = None,
) -> Alert:
    """The life of one alert of ``key``: opened once, kept, resolved; one email each way per recipient."""
    mail.outbox.clear()
    assert sweep(key, now)["opened"] == 0, "nothing holds yet"
    start()
    counts = sweep(key, now)
    assert counts["opened"] == 1
    alert = Alert.all_workspaces.get(condition=key)
    assert alert.is_open and alert.subject == subject and alert.workspace == workspace
    assert alert.scope == (AlertScope.WORKSPACE if workspace else AlertScope.PLATFORM)
    opened = [message for message in mail.outbox if message.subject.startswith("[InstaForge] Alert:")]
    assert {address for message in opened for address in message.to} == recipients
    assert all(alert.title in message.subject for message in opened)

    mail.outbox.clear()
    again = sweep(key, now)
    assert again["opened"] == 0 and again["kept"] == 1
    assert Alert.all_workspaces.filter(condition=key).count() == 1, "no storm: one alert until it clears"
    assert mail.outbox == []

    clear()
    assert sweep(key, cleared_at or now)["resolved"] == 1
    alert.refresh_from_db()
    assert not alert.is_open
    resolved = [message for message in mail.outbox if message.subject.startswith("[InstaForge] Resolved:")]
    assert {address for message in resolved for address in message.to} == recipients
    assert len(mail.outbox) == len(resolved)
    assert not AlertNotification.all_workspaces.exclude(state=NotificationState.SENT).exists()

    mail.outbox.clear()
    assert sweep(key, cleared_at or now) == {"opened": 0, "kept": 0, "resolved": 0, "sent": 0, "failed": 0}
    assert mail.outbox == []
    return alert


def test_every_condition_has_a_test_here() -> None:
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert {condition.key for condition in CONDITIONS} <= tested


def test_account_suspended(workspace, make_account, make_user) -> None:
    account = make_account(workspace)
    operator = make_user("operator@example.com")
    lifecycle(
        "account_suspended",
        start=lambda: account_suspend(
            account_id=account.pk, actor=None, cause="safety engine: policy block", reason="368"
        ),
        clear=lambda: account_approve(account_id=account.pk, actor=operator),
        recipients={_owner_email(workspace), OPERATORS},  # the workspace, and the operators who review it
        workspace=workspace,
        subject=f"account:{account.pk}",
    )


def test_account_rate_limited(workspace, make_account) -> None:
    account = make_account(workspace)
    now = timezone.now()

    def storm() -> None:
        rate_limit_observe(account_id=account.pk, code=4, retry_after_seconds=600, now=now)
        for _ in range(3):
            SafetyEvent.all_workspaces.create(
                workspace=workspace, account=account, at=now, kind=SafetyEventKind.RATE_LIMIT, detail="rate limited"
            )

    # One rate limit is Instagram's ordinary pause, not a storm.
    rate_limit_observe(account_id=account.pk, code=4, retry_after_seconds=600, now=now)
    SafetyEvent.all_workspaces.create(
        workspace=workspace, account=account, at=now, kind=SafetyEventKind.RATE_LIMIT, detail="rate limited"
    )
    assert sweep("account_rate_limited", now)["opened"] == 0
    SafetyEvent.all_workspaces.all().delete()
    lifecycle(
        "account_rate_limited",
        start=storm,
        clear=lambda: None,  # the regain time passes
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"account:{account.pk}",
        now=now,
        cleared_at=now + timedelta(minutes=11),
    )


def test_token_expiring(workspace, make_account) -> None:
    account = make_account(workspace, token_expires_at=timezone.now() + timedelta(days=30))
    lifecycle(
        "token_expiring",
        start=lambda: InstagramAccount.all_workspaces.filter(pk=account.pk).update(
            token_expires_at=timezone.now() + timedelta(days=3)
        ),
        clear=lambda: InstagramAccount.all_workspaces.filter(pk=account.pk).update(
            token_expires_at=timezone.now() + timedelta(days=60)
        ),
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"account:{account.pk}",
    )


def test_token_invalid(workspace, make_account) -> None:
    revoked = make_account(workspace)
    lifecycle(
        "token_invalid",
        start=lambda: account_mark_error(account_id=revoked.pk, reason="Error validating access token (190)"),
        clear=lambda: InstagramAccount.all_workspaces.filter(pk=revoked.pk).update(state=AccountState.ACTIVE),
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"account:{revoked.pk}",
    )
    assert "190" in Alert.all_workspaces.get(condition="token_invalid").detail


def test_token_invalid_when_it_expired_by_date(workspace, make_account) -> None:
    expired = make_account(workspace, token_expires_at=timezone.now() - timedelta(hours=1))
    sweep("token_invalid")
    alert = Alert.all_workspaces.get(condition="token_invalid")
    assert alert.subject == f"account:{expired.pk}" and "expired" in alert.title


def test_kill_switch(workspace, make_account) -> None:
    lifecycle(
        "kill_switch",
        start=lambda: kill_switch_set(workspace_id=workspace.pk, stopped=True, reason="holiday", actor=None),
        clear=lambda: kill_switch_set(workspace_id=workspace.pk, stopped=False, actor=None),
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"workspace:{workspace.pk}",
    )


def test_kill_switch_of_one_account(workspace, make_account) -> None:
    account = make_account(workspace)
    kill_switch_set(workspace_id=workspace.pk, account_id=account.pk, stopped=True, actor=None)
    sweep("kill_switch")
    alert = Alert.all_workspaces.get(condition="kill_switch")
    assert alert.subject == f"account:{account.pk}" and account.username in alert.title


def test_global_kill_switch(db) -> None:
    lifecycle(
        "global_kill_switch",
        start=lambda: global_kill_switch_set(stopped=True, reason="Meta incident", actor=None),
        clear=lambda: global_kill_switch_set(stopped=False, actor=None),
        recipients={OPERATORS},
        workspace=None,
        subject="platform",
    )


def _event(number: int, **fields: object) -> InboundEvent:
    return InboundEvent.objects.create(
        dedupe_key=f"key-{number}", object_type="instagram", field="comments", entry_id="1", payload={}, **fields
    )


def test_inbound_backlog(db, settings) -> None:
    settings.HEALTH_INBOUND_MAX_AGE_SECONDS = 300
    now = timezone.now()
    _event(0, received_at=now - timedelta(seconds=60))  # young: not a backlog
    lifecycle(
        "inbound_backlog",
        start=lambda: _event(1, received_at=now - timedelta(minutes=10)),
        clear=lambda: InboundEvent.objects.update(state=InboundEventState.PROCESSED),
        recipients={OPERATORS},
        workspace=None,
        subject="platform",
        now=now,
    )


def test_inbound_failures(db) -> None:
    now = timezone.now()
    _event(0, state=InboundEventState.FAILED, processed_at=now)
    _event(1, state=InboundEventState.FAILED, processed_at=now)
    assert sweep("inbound_failures", now)["opened"] == 0  # two are not yet "failing"
    lifecycle(
        "inbound_failures",
        start=lambda: _event(2, state=InboundEventState.FAILED, processed_at=now),
        clear=lambda: None,  # no new failure for half an hour
        recipients={OPERATORS},
        workspace=None,
        subject="platform",
        now=now,
        cleared_at=now + timedelta(minutes=31),
    )


def test_webhook_refused(db) -> None:
    now = timezone.now()
    for _ in range(4):
        webhook_refusal_record(now=now)
    assert sweep("webhook_refused", now)["opened"] == 0  # four are not yet "refused"
    lifecycle(
        "webhook_refused",
        start=lambda: webhook_refusal_record(now=now),
        clear=lambda: None,  # no refusal for half an hour
        recipients={OPERATORS},
        workspace=None,
        subject="platform",
        now=now,
        cleared_at=now + timedelta(minutes=40),
    )


def test_heartbeat_missing(db, settings) -> None:
    settings.HEALTH_DISPATCHER_MAX_AGE_SECONDS = 60
    now = timezone.now()
    for role in HeartbeatRole.values:
        Heartbeat.objects.create(role=role, name=f"host:{role}", beat_at=now)
    lifecycle(
        "heartbeat_missing",
        start=lambda: Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).update(
            beat_at=now - timedelta(seconds=90)
        ),
        clear=lambda: Heartbeat.objects.filter(role=HeartbeatRole.DISPATCHER).update(beat_at=now),
        recipients={OPERATORS},
        workspace=None,
        subject="heartbeat:dispatcher",
        now=now,
    )


def test_heartbeat_missing_when_a_role_never_beat(db) -> None:
    sweep("heartbeat_missing")
    assert set(Alert.all_workspaces.values_list("subject", flat=True)) == {
        f"heartbeat:{role}" for role in HeartbeatRole.values
    }


def test_publish_failed(workspace, make_account) -> None:
    account = make_account(workspace)
    post = ScheduledPost.all_workspaces.create(
        workspace=workspace, account=account, kind="image", scheduled_at=timezone.now() + timedelta(hours=1)
    )
    lifecycle(
        "publish_failed",
        start=lambda: ScheduledPost.all_workspaces.filter(pk=post.pk).update(
            state=PostState.FAILED, state_reason="the container expired"
        ),
        clear=lambda: ScheduledPost.all_workspaces.filter(pk=post.pk).update(state=PostState.SCHEDULED),
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"post:{post.pk}",
    )


def test_crm_endpoint_failing(workspace) -> None:
    endpoint = endpoint_create(workspace=workspace, url="https://crm.example.com/hook?key=secret", event_kinds=[])
    now = timezone.now()

    def delivery(state: str, attempts: int, at: datetime) -> WebhookDelivery:
        return WebhookDelivery.all_workspaces.create(
            workspace=workspace,
            endpoint=endpoint,
            event_kind="new_lead",
            body="{}",
            state=state,
            attempts=attempts,
            created_at=at,
        )

    delivery(DeliveryState.SUCCEEDED, 1, now - timedelta(hours=2))
    delivery(DeliveryState.PENDING, 1, now - timedelta(minutes=5))  # one failed attempt: not failing yet
    alert = lifecycle(
        "crm_endpoint_failing",
        start=lambda: delivery(DeliveryState.FAILED, 6, now - timedelta(minutes=1)),
        clear=lambda: delivery(DeliveryState.SUCCEEDED, 1, now),  # a later delivery went through
        recipients={_owner_email(workspace)},
        workspace=workspace,
        subject=f"endpoint:{endpoint.pk}",
        now=now,
    )
    assert "secret" not in alert.title and "crm.example.com" in alert.title


def test_one_sweep_of_every_condition_runs_clean(workspace, make_account) -> None:
    """The schedule's own call (every condition at once) on a quiet database: only the missing heartbeats."""
    make_account(workspace)
    counts = alerts_sweep()
    assert counts["opened"] == len(HeartbeatRole.values)
    assert alerts_sweep()["opened"] == 0
