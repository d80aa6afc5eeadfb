"""Pruning never lets a redelivered webhook or a reconciled action run twice.

A follower comments in the sandbox; the signed ``comments`` webhook reaches the product's own WSGI handler; the
rule's reply is planned and sent to the sandbox. Then the clock moves forward, the prune runs with every period
as short as the settings accept, and Meta delivers the same webhook again: the reply is not sent twice, whether
the redelivery comes inside Meta's retry horizon (the rows that recognise it are still kept) or after it (they
are gone, and the change is refused as stale). A last test shows what the minimums are for: with a period
shorter than they allow, the same redelivery would be answered twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import InstagramAccount, Workspace
from actions.dispatcher.loop import dispatch_once
from actions.dispatcher.recovery import actions_reconcile_unknown
from actions.models import Action, ActionState, ActionType
from engagement.models import Comment, CommentRule
from engagement.services import comment_rule_save
from instagram.models import InboundEvent
from privacy.retention import retention_kinds, retention_prune
from sandbox.models import SandboxComment
from sandbox.services import sandbox_comment_post
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from tests.factories import account_connected_in_sandbox

pytestmark = pytest.mark.usefixtures("sandbox_server", "product_in_process")

HORIZON = timedelta(hours=django_settings.INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS)


@dataclass
class Clock:
    """``django.utils.timezone.now`` moved forward by the test (the warm-up tests' way of moving time)."""

    offset: timedelta = timedelta(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + clock.offset)
    return clock


def shortest_periods(settings: Settings, *, dedupe_days: int | None = None) -> None:
    """Every retention period as short as the settings accept (or, for the test of why, shorter still)."""
    dedupe = dedupe_days if dedupe_days is not None else django_settings.RETENTION_DEDUPE_MIN_DAYS
    for kind in retention_kinds():
        if kind.setting in {
            "RETENTION_INBOUND_EVENTS_DAYS",
            "RETENTION_COMMENTS_DAYS",
            "RETENTION_MESSAGES_DAYS",
            "RETENTION_ACTIONS_DAYS",
        }:
            setattr(settings, kind.setting, dedupe)
        elif kind.setting == "RETENTION_SAFETY_EVENTS_DAYS":
            setattr(settings, kind.setting, django_settings.RETENTION_SAFETY_EVENTS_MIN_DAYS)
        else:
            setattr(settings, kind.setting, 1)


@dataclass
class Answered:
    account: InstagramAccount
    comment: SandboxComment
    payload: dict[str, Any]


@pytest.fixture
def answered(workspace: Workspace, django_capture_on_commit_callbacks: Any) -> Iterator[Answered]:
    """A comment delivered by webhook, processed, and its reply sent through the sandbox (once)."""
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="retention_bakery")
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="Hi {username}!"
        )
    )
    comment = sandbox_comment_post(media=sandbox_account.media.get(), from_username="hungry_fan", text="price?")
    payload = comment_webhook_payload(comment=comment)
    deliver(payload, django_capture_on_commit_callbacks)
    dispatch_once(worker_id="retention-test")
    assert replies_to(comment) == 1
    (action,) = Action.all_workspaces.filter(action_type=ActionType.COMMENT_REPLY)
    assert action.state == ActionState.SUCCEEDED, action.last_reason
    yield Answered(account=account, comment=comment, payload=payload)


def deliver(payload: dict[str, Any], capture: Any) -> None:
    """Meta delivers ``payload`` (signed, to the product's endpoint); the inbound task runs on commit."""
    with capture(execute=True):
        delivery = webhook_deliver(payload=payload)
    assert delivery.status == 200, delivery.error


def replies_to(comment: SandboxComment) -> int:
    return SandboxComment.objects.filter(parent=comment, via_api=True).count()


def redelivered_and_dispatched(answered: Answered, capture: Any) -> None:
    deliver(answered.payload, capture)
    for _ in range(3):  # anything planned by the redelivery would be sent by now
        dispatch_once(worker_id="retention-test")


def ledger_of(answered: Answered) -> list[str]:
    return list(
        Action.all_workspaces.filter(account=answered.account, action_type=ActionType.COMMENT_REPLY).values_list(
            "state", flat=True
        )
    )


def test_a_redelivery_inside_the_horizon_after_pruning_sends_no_second_reply(
    answered: Answered, clock: Clock, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    shortest_periods(settings)
    clock.offset = HORIZON - timedelta(hours=1)  # the last hour of Meta's retries
    retention_prune(now=timezone.now())
    # What recognises the redelivery is younger than the shortest period the settings accept: kept.
    assert InboundEvent.objects.count() == 1
    assert Comment.all_workspaces.filter(ig_comment_id=answered.comment.comment_id).exists()

    redelivered_and_dispatched(answered, django_capture_on_commit_callbacks)

    assert replies_to(answered.comment) == 1
    assert ledger_of(answered) == [ActionState.SUCCEEDED]
    assert InboundEvent.objects.get().deliveries == 2


def test_a_redelivery_after_everything_was_pruned_is_refused_as_stale(
    answered: Answered, clock: Clock, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    shortest_periods(settings)
    clock.offset = timedelta(days=django_settings.RETENTION_DEDUPE_MIN_DAYS, hours=1)
    counts = retention_prune(now=timezone.now())
    # The event, the comment and the reply's action are all gone: nothing is left to recognise a redelivery.
    assert counts["inbound_events"] == 1 and counts["comments"] == 1 and counts["actions"] == 1
    assert not InboundEvent.objects.exists() and not Action.all_workspaces.exists()

    redelivered_and_dispatched(answered, django_capture_on_commit_callbacks)

    assert replies_to(answered.comment) == 1
    assert not Action.all_workspaces.exists()
    assert not InboundEvent.objects.exists()  # older than Meta's horizon: a replay, not stored


def test_the_minimums_are_what_stops_a_second_reply(
    answered: Answered, clock: Clock, settings: Settings, django_capture_on_commit_callbacks: Any
) -> None:
    """With periods under the horizon (the settings refuse them at start), a redelivery is answered again."""
    shortest_periods(settings, dedupe_days=1)
    clock.offset = HORIZON - timedelta(hours=1)
    retention_prune(now=timezone.now())
    assert not InboundEvent.objects.exists() and not Action.all_workspaces.exists()

    redelivered_and_dispatched(answered, django_capture_on_commit_callbacks)

    assert replies_to(answered.comment) == 2  # the double reply the minimums exist to prevent


def test_an_action_being_reconciled_survives_pruning_and_is_reconciled_once(
    answered: Answered, settings: Settings
) -> None:
    """Its outcome was lost after sending: the reconciler still owns it, however old, and asks Instagram once."""
    shortest_periods(settings)
    (action,) = Action.all_workspaces.filter(action_type=ActionType.COMMENT_REPLY)
    long_ago: datetime = timezone.now() - timedelta(days=400)
    Action.all_workspaces.filter(pk=action.pk).update(
        state=ActionState.UNKNOWN, created_at=long_ago, started_at=long_ago, finished_at=None
    )
    Comment.all_workspaces.update(received_at=long_ago)
    InboundEvent.objects.update(received_at=long_ago)

    counts = retention_prune(now=timezone.now())

    assert counts["comments"] == 1 and counts["inbound_events"] == 1
    assert counts["actions"] == 0
    assert actions_reconcile_unknown(worker_id="retention-test", now=timezone.now()) == 1
    assert actions_reconcile_unknown(worker_id="retention-test", now=timezone.now()) == 0
    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED and action.result["reconciled"] is True
    dispatch_once(worker_id="retention-test")
    assert replies_to(answered.comment) == 1

    # Reconciled, it is finished: the next run prunes it like any old action.
    assert retention_prune(now=timezone.now())["actions"] == 1
