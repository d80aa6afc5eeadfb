"""Retention (privacy/retention.py): each kind pruned after its period, in batches, never what exactly-once needs."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import AccountState, InstagramAccount, User
from actions.models import Action, ActionDecision, ActionState, ActionType
from alerts.models import Alert, AlertNotification, AlertScope
from engagement.models import Comment, ReviewState
from instaforge.schedules import SCHEDULES
from instagram.models import InboundEvent, InboundEventState
from instagram.services import MAX_PROCESSING_ATTEMPTS
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from messaging.models import Conversation, ConversationEvent, Flow, FlowRun, FlowVersion
from privacy.models import DataDeletionRequest, DeletionState
from privacy.retention import RetentionKind, retention_kinds, retention_prune, retention_prune_task
from publishing.models import PostEvent, PostState, ScheduledPost
from safety import risk
from safety.models import SafetyEvent, SafetyEventKind
from tests.factories import ActionFactory, CommentFactory, ConversationFactory, InstagramAccountFactory, MessageFactory

_numbers = itertools.count(1)


def number() -> int:
    return next(_numbers)


@pytest.fixture
def account(db: None) -> InstagramAccount:
    return InstagramAccountFactory.create()


# --- a row of each kind -----------------------------------------------------------------------------------


def _inbound_event(account: InstagramAccount, **fields: Any) -> InboundEvent:
    values: dict[str, Any] = {
        "dedupe_key": f"comments:{number()}",
        "object_type": "instagram",
        "field": "comments",
        "entry_id": account.ig_user_id,
        "payload": {},
        "state": InboundEventState.PROCESSED,
        "workspace_id": account.workspace_id,
        "account": account,
    }
    return InboundEvent.objects.create(**{**values, **fields})


def _crm_delivery(account: InstagramAccount, **fields: Any) -> WebhookDelivery:
    endpoint = WebhookEndpoint.all_workspaces.create(
        workspace_id=account.workspace_id, url="https://crm.example/hook", secret_encrypted="x", event_kinds=["ping"]
    )
    values: dict[str, Any] = {"event_kind": "ping", "body": "{}", "state": DeliveryState.SUCCEEDED}
    return WebhookDelivery.all_workspaces.create(
        workspace_id=account.workspace_id, endpoint=endpoint, **{**values, **fields}
    )


def _decision(account: InstagramAccount) -> ActionDecision:
    action = ActionFactory.create(account=account, state=ActionState.PLANNED)
    return ActionDecision.all_workspaces.create(
        workspace_id=account.workspace_id, action=action, verdict="defer", reason="cooldown"
    )


def _post(account: InstagramAccount, state: str = PostState.DRAFT) -> ScheduledPost:
    scheduled_at = None if state == PostState.DRAFT else timezone.now()
    return ScheduledPost.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, state=state, scheduled_at=scheduled_at
    )


def _alert(account: InstagramAccount, **fields: Any) -> Alert:
    values: dict[str, Any] = {
        "workspace_id": account.workspace_id,
        "scope": AlertScope.WORKSPACE,
        "condition": "token_expiring",
        "subject": f"account:{number()}",
        "title": "Token expiring",
        "resolved_at": timezone.now(),
    }
    return Alert.all_workspaces.create(**{**values, **fields})


def _audit_entry(account: InstagramAccount) -> LogEntry:
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(User), object_pk="1", object_repr="someone", action=1
    )


BUILDERS: dict[str, Callable[[InstagramAccount], Any]] = {
    "inbound_events": _inbound_event,
    "crm_deliveries": _crm_delivery,
    "decisions": _decision,
    "comments": lambda account: CommentFactory.create(account=account),
    "messages": lambda account: MessageFactory.create(
        conversation=ConversationFactory.create(account=account, last_message_at=timezone.now())
    ),
    "conversations": lambda account: ConversationFactory.create(account=account, last_message_at=None),
    "actions": lambda account: ActionFactory.create(account=account, state=ActionState.SUCCEEDED),
    "conversation_events": lambda account: ConversationEvent.all_workspaces.create(
        workspace_id=account.workspace_id, conversation=ConversationFactory.create(account=account), kind="new"
    ),
    "post_events": lambda account: PostEvent.all_workspaces.create(
        workspace_id=account.workspace_id, post=_post(account), kind=PostEvent.Kind.EDITED, message="caption"
    ),
    "safety_events": lambda account: SafetyEvent.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, kind=SafetyEventKind.ERROR, detail="code 2"
    ),
    "alerts": _alert,
    "deletion_requests": lambda account: DataDeletionRequest.objects.create(
        confirmation_code=f"code{number()}", state=DeletionState.DONE, completed_at=timezone.now()
    ),
    "audit_log": _audit_entry,
}


def kind_named(name: str) -> RetentionKind:
    (kind,) = [kind for kind in retention_kinds() if kind.name == name]
    return kind


def aged(kind: RetentionKind, row: Any, *, days: float, now: datetime) -> Any:
    """``row`` made ``days`` old by the date its kind ages by (written straight, past any field default)."""
    kind.manager().filter(pk=row.pk).update(**{kind.date_field: now - timedelta(days=days)})
    return row


def exists(kind: RetentionKind, row: Any) -> bool:
    return kind.manager().filter(pk=row.pk).exists()


# --- each kind ----------------------------------------------------------------------------------------------


def test_every_kind_has_a_row_builder_here() -> None:
    assert set(BUILDERS) == {kind.name for kind in retention_kinds()}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_each_kind_is_pruned_after_its_period_and_kept_before(name: str, account: InstagramAccount) -> None:
    kind = kind_named(name)
    now = timezone.now()
    # Rows are written in date order in real life, and a run reads a kind only below its first young row: the
    # audit entries the fixture's account wrote (young, and first) would hide the old one made after them.
    LogEntry.objects.all().delete()
    old = aged(kind, BUILDERS[name](account), days=kind.days + 1, now=now)
    young = aged(kind, BUILDERS[name](account), days=kind.days - 1, now=now)

    counts = retention_prune(now=now)

    assert counts[name] == 1
    assert not exists(kind, old)
    assert exists(kind, young)


def test_the_default_periods_are_the_issues() -> None:
    days = {kind.name: kind.days for kind in retention_kinds()}
    assert days["inbound_events"] == 30 and days["crm_deliveries"] == 30
    assert days["decisions"] == 90
    assert days["actions"] == 365 and days["messages"] == 365 and days["comments"] == 365


def test_a_period_of_0_keeps_the_kind_forever(account: InstagramAccount, settings: Settings) -> None:
    settings.RETENTION_INBOUND_EVENTS_DAYS = 0
    kind = kind_named("inbound_events")
    now = timezone.now()
    ancient = aged(kind, _inbound_event(account), days=5000, now=now)
    counts = retention_prune(now=now)
    assert "inbound_events" not in counts
    assert exists(kind, ancient)


# --- batches ------------------------------------------------------------------------------------------------


def test_batches_of_2_over_5_rows_delete_all_in_3_short_statements(account: InstagramAccount) -> None:
    kind = kind_named("inbound_events")
    now = timezone.now()
    rows = [aged(kind, _inbound_event(account), days=40, now=now) for _ in range(5)]
    table = InboundEvent._meta.db_table

    with CaptureQueriesContext(connection) as queries:
        counts = retention_prune(now=now, batch_size=2)

    assert counts["inbound_events"] == 5
    assert not InboundEvent.objects.filter(pk__in=[row.pk for row in rows]).exists()
    quoted = connection.ops.quote_name(table)
    statements = [query["sql"] for query in queries.captured_queries]
    deletes = [sql for sql in statements if sql.startswith("DELETE") and quoted in sql]
    assert len(deletes) == 3


def test_a_run_out_of_time_stops_between_batches_and_the_next_goes_on(account: InstagramAccount) -> None:
    kind = kind_named("inbound_events")
    now = timezone.now()
    for _ in range(5):
        aged(kind, _inbound_event(account), days=40, now=now)

    first = retention_prune(now=now, batch_size=2, max_seconds=0)
    assert first == {"inbound_events": 2}  # one batch, then out of time: the other kinds wait too
    assert InboundEvent.objects.count() == 3

    second = retention_prune(now=now, batch_size=2)
    assert second["inbound_events"] == 3
    assert not InboundEvent.objects.exists()


def test_a_dry_run_counts_and_deletes_nothing(account: InstagramAccount) -> None:
    kind = kind_named("actions")
    now = timezone.now()
    for _ in range(3):
        aged(kind, ActionFactory.create(account=account, state=ActionState.SUCCEEDED), days=400, now=now)
    assert retention_prune(now=now, batch_size=2, dry_run=True)["actions"] == 3
    assert Action.all_workspaces.count() == 3


# --- never pruned -------------------------------------------------------------------------------------------


def test_an_unfinished_action_is_never_pruned(account: InstagramAccount) -> None:
    kind = kind_named("actions")
    now = timezone.now()
    for state in ActionState.values:
        aged(kind, ActionFactory.create(account=account, state=state), days=5000, now=now)

    retention_prune(now=now)

    left = set(Action.all_workspaces.values_list("state", flat=True))
    assert left == {ActionState.PLANNED, ActionState.CLAIMED, ActionState.SENDING, ActionState.UNKNOWN}


def test_an_inbound_event_not_yet_handled_is_never_pruned(account: InstagramAccount) -> None:
    kind = kind_named("inbound_events")
    now = timezone.now()
    for state in InboundEventState.values:
        aged(kind, _inbound_event(account, state=state, attempts=1), days=5000, now=now)
    # Still marked processing after the sweeper's last attempt: nothing takes it again, so it ages out too.
    dead = aged(
        kind,
        _inbound_event(account, state=InboundEventState.PROCESSING, attempts=MAX_PROCESSING_ATTEMPTS),
        days=5000,
        now=now,
    )

    retention_prune(now=now)

    left = set(InboundEvent.objects.values_list("state", flat=True))
    assert left == {InboundEventState.PENDING, InboundEventState.PROCESSING}
    assert not InboundEvent.objects.filter(pk=dead.pk).exists()


def test_what_is_still_waiting_for_someone_is_kept(account: InstagramAccount) -> None:
    now = timezone.now()
    pending = aged(kind_named("crm_deliveries"), _crm_delivery(account, state=DeliveryState.PENDING), days=500, now=now)
    sending = aged(kind_named("crm_deliveries"), _crm_delivery(account, state=DeliveryState.SENDING), days=500, now=now)
    flagged = aged(
        kind_named("comments"),
        CommentFactory.create(account=account, review_state=ReviewState.FLAGGED),
        days=500,
        now=now,
    )
    open_alert = _alert(account, resolved_at=None)
    unsent = _alert(account)
    AlertNotification.all_workspaces.create(
        alert=unsent, workspace_id=account.workspace_id, event="resolved", audience="workspace", channel="email"
    )
    aged(kind_named("alerts"), unsent, days=500, now=now)
    request = DataDeletionRequest.objects.create(confirmation_code="pending-one", completed_at=now)
    aged(kind_named("deletion_requests"), request, days=5000, now=now)
    suspended = InstagramAccountFactory.create(workspace=account.workspace, state=AccountState.SUSPENDED)
    evidence = aged(
        kind_named("safety_events"),
        SafetyEvent.all_workspaces.create(
            workspace_id=account.workspace_id, account=suspended, kind=SafetyEventKind.SUSPENSION, detail="code 368"
        ),
        days=5000,
        now=now,
    )
    conversation = ConversationFactory.create(account=account, last_message_at=None)
    aged(kind_named("conversations"), conversation, days=5000, now=now)
    version = _flow_version(account)
    FlowRun.all_workspaces.create(
        workspace_id=account.workspace_id, conversation=conversation, version=version, status="waiting"
    )

    retention_prune(now=now)

    assert WebhookDelivery.all_workspaces.filter(pk__in=[pending.pk, sending.pk]).count() == 2
    assert Comment.all_workspaces.filter(pk=flagged.pk).exists()
    assert Alert.all_workspaces.filter(pk__in=[open_alert.pk, unsent.pk]).count() == 2
    assert DataDeletionRequest.objects.filter(pk=request.pk).exists()
    assert SafetyEvent.all_workspaces.filter(pk=evidence.pk).exists()
    assert Conversation.all_workspaces.filter(pk=conversation.pk).exists()


def _flow_version(account: InstagramAccount) -> FlowVersion:
    flow = Flow.all_workspaces.create(workspace_id=account.workspace_id, account=account, name="Welcome")
    return FlowVersion.all_workspaces.create(workspace_id=account.workspace_id, flow=flow, number=1, steps=[])


def test_the_actions_of_a_kept_comment_stay_with_it(account: InstagramAccount) -> None:
    """A person's decision on a comment counts its actions in its key: one gone would swallow the next decision."""
    now = timezone.now()
    comment = CommentFactory.create(account=account)
    hide = aged(
        kind_named("actions"),
        ActionFactory.create(
            account=account,
            action_type=ActionType.HIDE_COMMENT,
            state=ActionState.SUCCEEDED,
            idempotency_key=f"hide_comment:{comment.ig_comment_id}:review0",
            source_kind="comment",
            source_id=str(comment.pk),
        ),
        days=400,
        now=now,
    )
    retention_prune(now=now)
    assert Action.all_workspaces.filter(pk=hide.pk).exists()

    aged(kind_named("comments"), comment, days=400, now=now)
    counts = retention_prune(now=now)
    assert counts["comments"] == 1 and counts["actions"] == 1
    assert not Action.all_workspaces.filter(pk=hide.pk).exists()


def test_the_newest_ice_breakers_update_and_the_steps_of_a_post_in_flight_stay(account: InstagramAccount) -> None:
    now = timezone.now()
    kind = kind_named("actions")

    def done(source_kind: str, source_id: str) -> Action:
        action = ActionFactory.create(
            account=account, state=ActionState.SUCCEEDED, source_kind=source_kind, source_id=source_id
        )
        return aged(kind, action, days=400, now=now)

    older, newest = done("ice_breakers", "7"), done("ice_breakers", "7")
    publishing = _post(account, PostState.PUBLISHING)
    failed = _post(account, PostState.FAILED)
    in_flight = done("post", str(publishing.pk))
    finished = done("post", str(failed.pk))

    retention_prune(now=now)

    left = set(Action.all_workspaces.values_list("pk", flat=True))
    assert newest.pk in left and in_flight.pk in left
    assert older.pk not in left and finished.pk not in left


# --- settings -----------------------------------------------------------------------------------------------


def test_the_minimums_cover_what_they_protect() -> None:
    horizon = timedelta(hours=django_settings.INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS)
    assert timedelta(days=django_settings.RETENTION_DEDUPE_MIN_DAYS) >= horizon + timedelta(hours=24)
    assert timedelta(days=django_settings.RETENTION_SAFETY_EVENTS_MIN_DAYS) > risk.WINDOW


def test_the_command_prints_each_kind(account: InstagramAccount, settings: Settings) -> None:
    settings.RETENTION_AUDIT_LOG_DAYS = 0
    kind = kind_named("inbound_events")
    aged(kind, _inbound_event(account), days=40, now=timezone.now())
    out = StringIO()
    call_command("retention_prune", "--dry-run", stdout=out)
    assert "inbound_events: 1 would be deleted (older than 30 days)" in out.getvalue()
    assert "audit_log: kept forever (RETENTION_AUDIT_LOG_DAYS=0)" in out.getvalue()
    assert InboundEvent.objects.count() == 1

    out = StringIO()
    call_command("retention_prune", stdout=out)
    assert "inbound_events: 1 deleted" in out.getvalue()
    assert not InboundEvent.objects.exists()


def test_the_schedule_runs_the_task(account: InstagramAccount) -> None:
    (spec,) = [spec for spec in SCHEDULES if spec.name == "privacy: prune by retention"]
    assert spec.func == "privacy.retention.retention_prune_task"
    aged(kind_named("inbound_events"), _inbound_event(account), days=40, now=timezone.now())
    assert retention_prune_task()["inbound_events"] == 1
