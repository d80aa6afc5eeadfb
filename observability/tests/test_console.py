"""The operators' console: the admin's index shows the platform's figures, computed in a bounded number of queries."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone
from django_q.models import Task

from accounts.models import AccountState, InstagramAccount, Workspace
from actions.models import Action, ActionDecision, ActionState, Verdict
from alerts.models import Alert, AlertScope
from instagram.models import InboundEvent, InboundEventState
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from observability import console
from observability.models import HeartbeatRole
from observability.services import heartbeat_beat
from safety.decision import Decision
from safety.models import AccountUsage
from safety.services import gate_reason_category
from tests.factories import ActionFactory, InstagramAccountFactory, WorkspaceFactory

NOW = datetime(2026, 12, 7, 18, 40, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def _finished(account: InstagramAccount, state: str, at: datetime) -> Action:
    return ActionFactory.create(account=account, state=state, finished_at=at, due_at=at, started_at=at)


def _deferral(action: Action, reason: str, at: datetime) -> ActionDecision:
    return ActionDecision.all_workspaces.create(
        workspace=action.workspace, action=action, verdict=Verdict.DEFER, reason=reason, at=at
    )


def _event(number: int, received_at: datetime, lag: float | None = None) -> InboundEvent:
    return InboundEvent.objects.create(
        dedupe_key=f"event-{number}",
        object_type="instagram",
        field="comments",
        entry_id="17841400000000001",
        payload={},
        received_at=received_at,
        state=InboundEventState.PENDING if lag is None else InboundEventState.PROCESSED,
        processed_at=None if lag is None else received_at + timedelta(seconds=lag),
    )


def _endpoint(workspace: Workspace, url: str, *, active: bool = True) -> WebhookEndpoint:
    return WebhookEndpoint.all_workspaces.create(
        workspace=workspace, url=url, secret_encrypted="not-read", event_kinds=["new_lead"], is_active=active
    )


def _delivery(endpoint: WebhookEndpoint, state: str, at: datetime, attempts: int = 1) -> WebhookDelivery:
    return WebhookDelivery.all_workspaces.create(
        workspace=endpoint.workspace,
        endpoint=endpoint,
        event_kind="new_lead",
        body="{}",
        state=state,
        attempts=attempts,
        created_at=at,
    )


def _failed_task(number: int, stopped: datetime) -> Task:
    return Task.objects.create(
        id=f"{number:032d}",
        name=f"inbound-events-{number}",
        func="instagram.tasks.inbound_events_process",
        started=stopped - timedelta(seconds=3),
        stopped=stopped,
        success=False,
        attempt_count=2,
    )


_numbers = itertools.count(1_000)


def _seed(now: datetime, *, scale: int = 1) -> dict[str, Any]:
    """Rows for every section of the console; ``scale`` multiplies them (the query count must not follow)."""
    workspace = WorkspaceFactory.create(name="Acme")
    accounts = [InstagramAccountFactory.create(workspace=workspace, username=f"acme{n}") for n in range(scale)]
    paused = InstagramAccountFactory.create(workspace=workspace, username="acmepaused", state=AccountState.PAUSED)
    risky = InstagramAccountFactory.create(workspace=workspace, username="riskyshop", state=AccountState.SUSPENDED)
    AccountUsage.objects.create(account=risky, risk_score=87)
    AccountUsage.objects.create(account=paused, risk_score=40)
    for account in accounts:
        for state in (ActionState.SUCCEEDED, ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED):
            action = _finished(account, state, now - timedelta(minutes=10))
        _deferral(action, "cooldown: 3 minutes between replies to the same person", now - timedelta(minutes=5))
        _deferral(action, "warm-up day 1 allows 5 comment replies a day", now - timedelta(minutes=5))
    _finished(paused, ActionState.UNKNOWN, now - timedelta(hours=3, minutes=10))
    for _ in range(3 * scale):
        _event(next(_numbers), now - timedelta(minutes=30), lag=2.0)
    _event(next(_numbers), now - timedelta(hours=5))
    failing = _endpoint(workspace, "https://crm.example.com/hooks/secret-token?key=abc")
    for _ in range(scale):
        _delivery(failing, DeliveryState.FAILED, now - timedelta(hours=1), attempts=5)
    for minutes in range(scale):
        _failed_task(next(_numbers), now - timedelta(minutes=minutes + 1))
    for number in range(scale):
        Alert.all_workspaces.create(
            scope=AlertScope.PLATFORM,
            condition="heartbeat_dispatcher",
            subject=f"platform-{next(_numbers)}",
            title="Dispatcher is silent" if number == 0 else f"Alert {number}",
        )
    heartbeat_beat(role=HeartbeatRole.DISPATCHER, name="web-1:4242", force=True)
    return {"workspace": workspace, "risky": risky, "failing": failing}


# The selectors


def test_accounts_by_state_counts_every_state() -> None:
    workspace = WorkspaceFactory.create()
    for state in (AccountState.ACTIVE, AccountState.ACTIVE, AccountState.PAUSED, AccountState.ERROR):
        InstagramAccountFactory.create(workspace=workspace, state=state)

    counts = console.console_accounts_by_state()

    assert counts[AccountState.ACTIVE] == 2 and counts[AccountState.PAUSED] == 1 and counts[AccountState.ERROR] == 1
    assert counts[AccountState.SUSPENDED] == 0 and set(counts) == set(AccountState.values)


def test_actions_per_hour_buckets_each_outcome_by_the_hour_it_finished() -> None:
    account = InstagramAccountFactory.create()
    _finished(account, ActionState.SUCCEEDED, NOW - timedelta(minutes=5))  # this hour (18:00)
    _finished(account, ActionState.SUCCEEDED, NOW - timedelta(minutes=39))  # 18:01: this hour too
    _finished(account, ActionState.FAILED, NOW - timedelta(minutes=41))  # 17:59: the hour before
    _finished(account, ActionState.DENIED, NOW - timedelta(hours=23, minutes=40))  # 19:00 yesterday: the first bucket
    _finished(account, ActionState.SUCCEEDED, NOW - timedelta(hours=24))  # 18:40 yesterday: outside the window
    ActionFactory.create(account=account, state=ActionState.PLANNED)  # not finished

    series = console.console_actions_per_hour(now=NOW)

    assert set(series) == {"succeeded", "failed", "denied", "unknown"}
    assert all(len(counts) == 24 for counts in series.values())
    assert series["succeeded"][-1] == 2 and sum(series["succeeded"]) == 2
    assert series["failed"][-2] == 1 and sum(series["failed"]) == 1
    assert series["denied"][0] == 1 and sum(series["denied"]) == 1
    assert sum(series["unknown"]) == 0
    assert console.hours_last_day(now=NOW)[0] == datetime(2026, 12, 6, 19, tzinfo=UTC)


SAMPLE_REASONS = (
    "kill switch on for this workspace",
    "the account is paused",
    "no calls until Instagram lets the account call again at 19:00",
    "warm-up day 2 allows 10 comment replies a day",
    "backoff after 3 failures of comment_reply",
    "cooldown: 3 minutes between replies to the same person",
    "pattern: the same text 4 times in 10 minutes",
    "active hours are 08:00-22:00",
    "dm: 200 of 200 in the shared window, resets at 19:00",
    "Meta: 200 used in the last hour",
    "comment replies: 60 used in the last hour",
    "slowed by risk 72",
    "something nobody categorised",
)


def test_deferrals_by_reason_use_the_metrics_categories() -> None:
    action = ActionFactory.create()
    for reason in SAMPLE_REASONS:
        _deferral(action, reason, NOW - timedelta(hours=1))
    _deferral(action, "cooldown: 3 minutes between replies to the same person", NOW - timedelta(hours=2))
    _deferral(action, "cooldown: outside the window", NOW - timedelta(hours=25))
    ActionDecision.all_workspaces.create(
        workspace=action.workspace, action=action, verdict=Verdict.DENY, reason="cooldown: denied", at=NOW
    )

    counts = console.console_deferrals_by_reason(now=NOW)

    expected: dict[str, int] = {}
    for reason in SAMPLE_REASONS:
        category = gate_reason_category(Decision(Verdict.DEFER, reason))
        expected[category] = expected.get(category, 0) + 1
    expected["cooldown"] += 1
    assert counts == expected
    assert len(expected) == len(SAMPLE_REASONS)  # each sample reason is a category of its own
    assert next(iter(counts)) == "cooldown"  # most first


def test_inbound_per_hour_and_lag() -> None:
    lags = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 100.0]
    for number, seconds in enumerate(lags):
        _event(number, NOW - timedelta(minutes=30) - timedelta(seconds=seconds), lag=seconds)
    _event(50, NOW - timedelta(hours=2, minutes=10), lag=500.0)  # processed 2 h ago: not in the hour's lag
    _event(51, NOW - timedelta(hours=30))  # outside the 24 hours
    _event(52, NOW - timedelta(minutes=1))  # pending

    per_hour = console.console_inbound_per_hour(now=NOW)
    lag = console.console_inbound_lag(now=NOW)

    assert len(per_hour) == 24 and per_hour[-1] == 11 and per_hour[-3] == 1 and sum(per_hour) == 12
    assert lag.processed == 10
    assert lag.median == pytest.approx(5.0)  # nearest rank: the 5th of 10
    assert lag.p95 == pytest.approx(100.0)  # the 10th of 10


def test_inbound_lag_without_events() -> None:
    assert console.console_inbound_lag(now=NOW) == console.InboundLag(0, None, None)


def test_riskiest_accounts_are_the_top_scores() -> None:
    workspace = WorkspaceFactory.create(name="Shops")
    for score in range(12):
        account = InstagramAccountFactory.create(workspace=workspace, username=f"shop-{score}")
        AccountUsage.objects.create(account=account, risk_score=score * 5)

    riskiest = console.console_riskiest_accounts()

    assert [account.risk_score for account in riskiest] == [55, 50, 45, 40, 35, 30, 25, 20, 15, 10]
    assert riskiest[0].username == "shop-11" and riskiest[0].workspace == "Shops"


def test_failing_endpoints() -> None:
    workspace = WorkspaceFactory.create(name="Acme")
    failing = _endpoint(workspace, "https://user:pw@crm.example.com/hooks/s3cret?token=abc")
    _delivery(failing, DeliveryState.FAILED, NOW - timedelta(hours=2), attempts=5)
    _delivery(failing, DeliveryState.PENDING, NOW - timedelta(hours=1), attempts=3)
    _delivery(failing, DeliveryState.SUCCEEDED, NOW - timedelta(hours=3))  # before the failures
    recovered = _endpoint(workspace, "https://ok.example.com/in")
    _delivery(recovered, DeliveryState.FAILED, NOW - timedelta(hours=2), attempts=5)
    _delivery(recovered, DeliveryState.SUCCEEDED, NOW - timedelta(hours=1))
    retrying = _endpoint(workspace, "https://retry.example.com/in")
    _delivery(retrying, DeliveryState.PENDING, NOW - timedelta(hours=1), attempts=1)  # a first retry: not yet
    switched_off = _endpoint(workspace, "https://off.example.com/in", active=False)
    _delivery(switched_off, DeliveryState.FAILED, NOW - timedelta(hours=1), attempts=5)
    old = _endpoint(workspace, "https://old.example.com/in")
    _delivery(old, DeliveryState.FAILED, NOW - timedelta(hours=30), attempts=5)

    endpoints = console.console_failing_endpoints(now=NOW)

    assert [endpoint.endpoint_id for endpoint in endpoints] == [failing.pk]
    assert endpoints[0].failures == 2 and endpoints[0].host == "https://crm.example.com"
    assert endpoints[0].last_failure_at == NOW - timedelta(hours=1)
    assert endpoints[0].last_success_at == NOW - timedelta(hours=3)


def test_failed_tasks_open_alerts_and_heartbeats() -> None:
    for number in range(12):
        _failed_task(number + 1, NOW - timedelta(minutes=number))
    Task.objects.create(
        id="f" * 32, name="fine", func="x.y", started=NOW, stopped=NOW + timedelta(seconds=1), success=True
    )
    Alert.all_workspaces.create(scope=AlertScope.PLATFORM, condition="a", subject="platform", title="open")
    Alert.all_workspaces.create(
        scope=AlertScope.PLATFORM, condition="b", subject="platform", title="resolved", resolved_at=NOW
    )
    heartbeat_beat(role=HeartbeatRole.WORKER, name="worker-1:1", force=True)

    tasks = console.console_failed_tasks()
    alerts = console.console_open_alerts()
    beats = {beat.role: beat for beat in console.console_heartbeats()}

    assert [task.name for task in tasks] == [f"inbound-events-{number}" for number in range(1, 11)]
    assert alerts.total == 1 and [alert.title for alert in alerts.latest] == ["open"]
    assert beats[HeartbeatRole.WORKER].alive and not beats[HeartbeatRole.DISPATCHER].alive
    assert beats[HeartbeatRole.DISPATCHER].age_seconds is None


# The page


def _operator(make_user: Callable[..., Any], email: str = "operator@instaforge.example", **flags: bool) -> Any:
    user = make_user(email)
    user.is_staff = True
    for flag, value in flags.items():
        setattr(user, flag, value)
    user.save()
    return user


def test_the_admin_index_is_the_operators_console(
    client: Client, make_user: Callable[..., Any], admin_login: Callable[..., None]
) -> None:
    seeded = _seed(timezone.now())
    admin_login(client, _operator(make_user, is_superuser=True))

    page = client.get("/admin/")

    assert page.status_code == 200
    html = page.content.decode()
    for testid in (
        "operators-console",
        "console-actions-chart",
        "console-deferrals",
        "console-inbound-chart",
        "console-inbound-lag",
        "console-accounts-by-state",
        "console-riskiest",
        "console-alerts",
        "console-endpoints",
        "console-tasks",
        "console-heartbeats",
    ):
        assert f'data-testid="{testid}"' in html, testid
    assert 'class="chart"' in html and "unfold/js/chart/chart.js" in html  # unfold's vendored Chart.js
    assert "cdn" not in html.lower()
    assert f'href="/admin/accounts/instagramaccount/{seeded["risky"].pk}/change/">@riskyshop</a>' in html
    assert (
        f'href="/admin/integrations/webhookendpoint/{seeded["failing"].pk}/change/">https://crm.example.com</a>' in html
    )
    assert "secret-token" not in html and "key=abc" not in html  # an endpoint's path and query stay out
    assert "inbound-events-" in html and "Dispatcher is silent" in html
    assert 'href="/admin/alerts/alert/?status=open"' in html
    assert "Succeeded: <strong>2</strong>" in html and "Failed: <strong>1</strong>" in html
    assert "cooldown: 1" in html and "warmup: 1" in html
    assert "Suspended (in review): 1" in html and "Paused: 1" in html
    assert "median <strong>2.0 s</strong>" in html and 'data-total="4"' in html
    assert "web-1:4242" not in html and "Dispatcher" in html  # a role's age, not each process


def test_the_console_reads_a_bounded_number_of_queries(
    client: Client,
    make_user: Callable[..., Any],
    admin_login: Callable[..., None],
    django_assert_max_num_queries: Any,
    django_assert_num_queries: Any,
) -> None:
    admin_login(client, _operator(make_user, is_superuser=True))
    now = timezone.now()
    _seed(now)
    with django_assert_max_num_queries(30) as small:
        assert client.get("/admin/").status_code == 200
    _seed(now, scale=6)
    with django_assert_num_queries(len(small.captured_queries)):  # six times the rows, the same queries
        assert client.get("/admin/").status_code == 200


def test_staff_see_only_the_sections_they_may_view(
    client: Client, make_user: Callable[..., Any], admin_login: Callable[..., None]
) -> None:
    _seed(timezone.now())
    staff = _operator(make_user, "support@instaforge.example")
    admin_login(client, staff)

    html = client.get("/admin/").content.decode()
    assert 'data-testid="operators-console"' in html
    assert "console-riskiest" not in html and "riskyshop" not in html and "Dispatcher is silent" not in html
    assert "Operators' console" not in html and "inbound-events-" not in html

    staff.user_permissions.add(Permission.objects.get(codename="view_alert", content_type__app_label="alerts"))
    html = client.get("/admin/").content.decode()
    assert 'data-testid="console-alerts"' in html and "Dispatcher is silent" in html
    assert "console-riskiest" not in html and "riskyshop" not in html and "console-actions-chart" not in html
    assert "console-tasks" not in html and "console-endpoints" not in html and "console-heartbeats" not in html
