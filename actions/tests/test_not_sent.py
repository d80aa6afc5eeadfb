"""Not sent is not a failure: a call refused before any byte left is planned again and counts for nothing.

Issue 18, finding 11: on a fresh ``make up`` the dispatcher may start before the sandbox listens. The
refused connection must not raise the account's risk, record safety events, start a backoff, move the
account to ERROR, use a limit or a shared counter slot, or fail the action: it is retried, and sent once
Instagram answers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import AccountState
from actions.dispatcher.loop import dispatch_once
from actions.dispatcher.sending import NOT_SENT_TRIES, RETRY_AFTER_NOT_SENT_MAX
from actions.models import Action, ActionDecision, ActionState, Verdict
from actions.tests.conftest import Connected, plan_reply, replies_sent
from instagram.tests import misbehaving
from safety.models import AccountUsage, SafetyCounter, SafetyEvent


def _risk(connected: Connected) -> int:
    usage = AccountUsage.objects.filter(account=connected.account).first()
    return usage.risk_score if usage else 0


def _global_count() -> int:
    """The platform's hourly count of started actions."""
    return SafetyCounter.objects.filter(scope="global", window="hour").aggregate(n=Sum("count"))["n"] or 0


def test_a_refused_connection_is_not_sent_counts_for_nothing_and_is_sent_once_instagram_answers(
    connected: Connected, settings: Settings
) -> None:
    sandbox_url = settings.INSTAGRAM_GRAPH_URL
    action = plan_reply(connected)
    before = timezone.now()

    with misbehaving.refusing_address() as refusing:
        settings.INSTAGRAM_GRAPH_URL = refusing
        assert dispatch_once(worker_id="w") == 1

    action.refresh_from_db()
    connected.account.refresh_from_db()
    assert action.state == ActionState.PLANNED
    assert action.last_reason.startswith("not sent, trying again in 15 s (try 1): Instagram unreachable")
    assert "Connection refused" in action.last_reason
    assert action.result[NOT_SENT_TRIES] == 1
    assert before + timedelta(seconds=14) <= action.due_at <= timezone.now() + timedelta(seconds=16)
    assert action.started_at is None  # no limit, cooldown, pattern or warm-up budget counts the try
    deferral = ActionDecision.all_workspaces.filter(action=action).last()
    assert deferral is not None and deferral.verdict == Verdict.DEFER and deferral.reason.startswith("not sent")
    # Nothing learnt about the account: no event, no risk, no backoff, no error state, no slot used.
    assert not SafetyEvent.all_workspaces.exists()
    assert _risk(connected) == 0
    assert not (AccountUsage.objects.filter(account=connected.account).values_list("backoff", flat=True).first())
    assert connected.account.state == AccountState.ACTIVE
    assert _global_count() == 0
    assert replies_sent(connected) == 0

    # Instagram answers again: the action is sent, once.
    settings.INSTAGRAM_GRAPH_URL = sandbox_url
    Action.all_workspaces.filter(pk=action.pk).update(due_at=timezone.now())
    assert dispatch_once(worker_id="w") == 1
    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert replies_sent(connected) == 1
    assert _global_count() == 1
    assert _risk(connected) == 0 and not SafetyEvent.all_workspaces.exists()
    assert dispatch_once(worker_id="w") == 0
    assert replies_sent(connected) == 1


@pytest.mark.parametrize(("tries_before", "wait_seconds"), [(1, 30), (2, 60), (40, RETRY_AFTER_NOT_SENT_MAX.seconds)])
def test_each_consecutive_not_sent_try_waits_twice_as_long_up_to_a_cap(
    connected: Connected, settings: Settings, tries_before: int, wait_seconds: int
) -> None:
    """Exponential, capped, never given up: nothing reached Instagram, so nothing is lost by trying later."""
    action = plan_reply(connected)
    Action.all_workspaces.filter(pk=action.pk).update(result={NOT_SENT_TRIES: tries_before})
    with misbehaving.refusing_address() as refusing:
        settings.INSTAGRAM_GRAPH_URL = refusing
        dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED
    assert action.result[NOT_SENT_TRIES] == tries_before + 1
    assert f"trying again in {wait_seconds} s" in action.last_reason
    assert action.due_at >= timezone.now() + timedelta(seconds=wait_seconds - 2)
    assert not SafetyEvent.all_workspaces.exists() and _risk(connected) == 0


def test_an_unresolvable_host_is_not_sent_either(connected: Connected, settings: Settings) -> None:
    action = plan_reply(connected)
    settings.INSTAGRAM_GRAPH_URL = misbehaving.UNRESOLVABLE_URL
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED and action.last_reason.startswith("not sent")
    assert not SafetyEvent.all_workspaces.exists() and _risk(connected) == 0


def test_a_connection_lost_after_sending_is_still_reconciled_not_resent(
    connected: Connected, settings: Settings
) -> None:
    """The other side of the line: a write whose answer was lost may have happened; it is never retried blindly."""
    action = plan_reply(connected)
    with misbehaving.misbehaving_server(misbehaving.close_after_request) as url:
        settings.INSTAGRAM_GRAPH_URL = url
        dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == ActionState.UNKNOWN
    assert "may have been sent" in action.last_reason
