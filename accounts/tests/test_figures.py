"""The account's figures page: the numbers on known data, the day buckets, tenancy and a query bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.figures import account_figures, duration_text, percentile
from accounts.models import InstagramAccount, User, Workspace
from accounts.tenancy import workspace_scope
from actions.models import Action, ActionState, ActionType
from engagement.models import Comment
from messaging.models import AutomatedReply, Message, MessageDirection
from safety.models import AccountUsage, RiskScoreSample, SafetyEvent, SafetyEventKind, SafetyEventOutcome
from tests.factories import ActionFactory, CommentFactory, ConversationFactory, MessageFactory

SUCCEEDED, FAILED = ActionState.SUCCEEDED, ActionState.FAILED


def _action(
    account: InstagramAccount, action_type: str, state: str, finished: datetime | None, **fields: Any
) -> Action:
    return ActionFactory.create(
        account=account,
        action_type=action_type,
        state=state,
        finished_at=finished,
        created_at=(finished or timezone.now()) - timedelta(minutes=1),
        **fields,
    )


def _comment_answered(account: InstagramAccount, received: datetime, *replies: tuple[str, str, float]) -> Comment:
    comment = CommentFactory.create(account=account, received_at=received)
    for action_type, state, after in replies:
        _action(
            account,
            action_type,
            state,
            received + timedelta(seconds=after),
            source_kind="comment",
            source_id=str(comment.pk),
            result={"error": {"code": 100, "kind": "InvalidParameterError"}} if state == FAILED else {},
            last_reason="Invalid parameter" if state == FAILED else "",
        )
    return comment


def _dm_answered(account: InstagramAccount, received: datetime, *replies: tuple[str, float]) -> Message:
    conversation = ConversationFactory.create(account=account)
    inbound = MessageFactory.create(conversation=conversation, created_at=received)
    for state, after in replies:
        action = _action(
            account,
            ActionType.DM,
            state,
            received + timedelta(seconds=after),
            source_kind="conversation",
            source_id=str(conversation.pk),
            result={"error": {"code": 10, "kind": "PermissionDeniedError"}} if state == FAILED else {},
        )
        outbound = MessageFactory.create(
            conversation=conversation, direction=MessageDirection.OUTBOUND, mid="", action=action, created_at=received
        )
        AutomatedReply.all_workspaces.create(
            workspace=account.workspace, message=outbound, trigger="hi", generator="rule", in_reply_to=inbound
        )
    return inbound


def seed(account: InstagramAccount, now: datetime) -> None:
    """Known figures: success 10 of 13 sent; comment replies 10/20/30/40/100 s; DM replies 5/15/65 s."""
    received = now - timedelta(hours=2)
    _comment_answered(
        account, received, (ActionType.COMMENT_REPLY, SUCCEEDED, 10), (ActionType.PRIVATE_REPLY, SUCCEEDED, 50)
    )
    for after in (20, 30, 40, 100):
        _comment_answered(account, received, (ActionType.COMMENT_REPLY, SUCCEEDED, after))
    _comment_answered(account, received, (ActionType.COMMENT_REPLY, FAILED, 5))  # answered by nothing
    _dm_answered(account, received, (SUCCEEDED, 5))
    _dm_answered(account, received, (SUCCEEDED, 15), (SUCCEEDED, 25))  # a flow's two messages: the first counts
    _dm_answered(account, received, (FAILED, 3))
    _dm_answered(account, received, (SUCCEEDED, 65))
    _action(account, ActionType.DM, ActionState.UNKNOWN, now - timedelta(hours=1))
    _action(account, ActionType.HIDE_COMMENT, ActionState.DENIED, now - timedelta(hours=1))
    _action(account, ActionType.DM, ActionState.PLANNED, None)
    _action(account, ActionType.COMMENT_REPLY, SUCCEEDED, now - timedelta(days=40))  # outside 30 days
    for _ in range(2):
        SafetyEvent.all_workspaces.create(
            workspace=account.workspace,
            account=account,
            kind=SafetyEventKind.RATE_LIMIT,
            outcome=SafetyEventOutcome.DEFER,
            code=4,
            detail="Application request limit reached",
        )
    AccountUsage.objects.update_or_create(
        account=account,
        defaults={
            "risk_score": 50,
            "risk_components": {"rate_limits": {"points": 50, "detail": "2 rate limits in 24 h (code 4: 2)"}},
            "risk_updated_at": now,
        },
    )


@pytest.fixture
def member(make_user) -> User:
    return make_user("member@example.com")


@pytest.fixture
def seeded(member: User, make_workspace, make_account) -> InstagramAccount:
    workspace = make_workspace("A", owner=member)
    account = make_account(workspace)
    seed(account, timezone.now())
    other = make_account(make_workspace("B"))  # another workspace's figures never mix in
    seed(other, timezone.now())
    return account


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([10, 20, 30, 40, 100], 0.95) == 100
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([3], 0.5) == 3
    assert [duration_text(s) for s in (None, 4.4, 60, 100, 7260)] == ["—", "4 s", "1 min", "1 min 40 s", "2 h 1 min"]


def test_the_figures_on_known_data(seeded: InstagramAccount) -> None:
    with workspace_scope(seeded.workspace):
        figures = account_figures(account=seeded, days=30)
    assert figures.outcome_totals == {"succeeded": 10, "failed": 2, "denied": 1, "unknown": 1, "pending": 1}
    assert figures.sent == 13
    assert figures.success_rate == pytest.approx(100 * 10 / 13)
    assert (figures.comment_times.count, figures.comment_times.median_seconds, figures.comment_times.p95_seconds) == (
        5,
        30,
        100,
    )
    assert (figures.dm_times.count, figures.dm_times.median_seconds, figures.dm_times.p95_seconds) == (3, 15, 65)
    errors = {(row.source, row.code): row.count for row in figures.errors}
    assert errors == {("action", "100"): 1, ("action", "10"): 1, ("rate_limit", "4"): 2}
    assert sum(figures.risk_events_by_day["rate_limit"]) == 2
    assert figures.risk_score == 50
    assert sum(figures.by_type["dm"]) == 7  # 4 succeeded, 1 failed, 1 unknown, 1 planned
    types = {label: total for label, _, total in figures.totals}
    assert types["Comment reply"] == 6
    assert types["Direct message"] == 7


def test_the_risk_series_on_known_samples(workspace: Workspace, make_account, make_workspace) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    account = make_account(workspace)
    other = make_account(make_workspace("B"))
    for days, score in ((8, 90), (6, 10), (2, 40), (0.5, 25)):  # the first is before a 7-day period
        RiskScoreSample.all_workspaces.create(
            workspace=workspace, account=account, at=now - timedelta(days=days), score=score
        )
    RiskScoreSample.all_workspaces.create(workspace=other.workspace, account=other, at=now, score=77)
    AccountUsage.objects.create(account=account, risk_score=30, risk_updated_at=now)
    with workspace_scope(workspace):
        figures = account_figures(account=account, days=7, now=now)
    assert figures.risk_series == [
        (now - timedelta(days=6), 10),
        (now - timedelta(days=2), 40),
        (now - timedelta(days=0.5), 25),
        (now, 30),  # the current score ends the line
    ]
    data = figures.chart_data()
    assert [point["score"] for point in data["riskScore"]] == [10, 40, 25, 30]
    assert data["riskScore"][-1]["t"] == int(now.timestamp() * 1000)
    assert data["riskFrom"] == int(figures.since.timestamp() * 1000)
    with workspace_scope(workspace):  # no sample and no score yet: the line is the current 0
        assert account_figures(account=make_account(workspace), days=7, now=now).risk_series == [(now, 0)]


def test_the_range_decides_what_counts(seeded: InstagramAccount) -> None:
    with workspace_scope(seeded.workspace):
        assert account_figures(account=seeded, days=30).outcome_totals["succeeded"] == 10
        wide = account_figures(account=seeded, days=90)
    assert wide.outcome_totals["succeeded"] == 11
    assert len(wide.day_labels) == 90


def test_days_are_the_account_time_zone_days(workspace: Workspace, make_account) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    paris = make_account(workspace, time_zone="Europe/Paris")  # UTC+1 in March
    _action(paris, ActionType.DM, SUCCEEDED, datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # 10 March, 00:30 in Paris
    _action(paris, ActionType.DM, SUCCEEDED, datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # 9 March, 23:30 in Paris
    _action(paris, ActionType.DM, SUCCEEDED, datetime(2026, 3, 3, 22, 59, tzinfo=UTC))  # 3 March, 23:59: too early
    with workspace_scope(workspace):
        figures = account_figures(account=paris, days=7, now=now)
    assert figures.day_labels[0] == "2026-03-04"
    assert figures.day_labels[-1] == "2026-03-10"
    assert figures.by_outcome["succeeded"] == [0, 0, 0, 0, 0, 1, 1]


def test_the_page_shows_the_figures_to_a_member(client: Client, member: User, seeded: InstagramAccount) -> None:
    client.force_login(member)
    response = client.get(reverse("account_figures", args=[seeded.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="success-rate">76.9 %<' in content
    assert 'data-testid="comment-median">30 s<' in content
    assert 'data-testid="comment-p95">1 min 40 s<' in content
    assert 'data-testid="dm-median">15 s<' in content
    assert 'data-testid="dm-p95">1 min 5 s<' in content
    assert 'id="figures-data"' in content and "js/figures.js" in content
    assert "vendor/chartjs/chart.umd.min.js" in content  # the vendored Chart.js (static/vendor/chartjs)
    assert "<script>" not in content  # the CSP allows no inline script: the data is JSON, the code a file
    assert "Application request limit reached" in content
    assert 'data-chart="riskScore"' in content and '"riskScore": [' in content
    detail = client.get(reverse("account_detail", args=[seeded.pk])).content.decode()
    assert reverse("account_figures", args=[seeded.pk]) in detail


def test_the_range_select_and_a_bad_value(client: Client, member: User, seeded: InstagramAccount) -> None:
    client.force_login(member)
    url = reverse("account_figures", args=[seeded.pk])
    assert client.get(url, {"days": "7"}).context["figures"].days == 7
    assert client.get(url, {"days": "365"}).context["figures"].days == 30
    assert client.get(url, {"days": "x"}).context["figures"].days == 30


def test_another_workspace_gets_404(client: Client, make_user, make_workspace, seeded: InstagramAccount) -> None:
    stranger = make_user("stranger@example.com")
    make_workspace("C", owner=stranger)
    client.force_login(stranger)
    assert client.get(reverse("account_figures", args=[seeded.pk])).status_code == 404


def test_a_bounded_number_of_queries(
    client: Client, member: User, seeded: InstagramAccount, django_assert_num_queries
) -> None:
    # 9: the eight grouped queries and the risk score's samples.
    with workspace_scope(seeded.workspace), django_assert_num_queries(9):
        account_figures(account=seeded, days=30)
    client.force_login(member)
    url = reverse("account_figures", args=[seeded.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    seed(seeded, timezone.now())  # twice the data (new comments, conversations, actions, events)
    with CaptureQueriesContext(connection) as large:
        response = client.get(url)
    assert response.status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries) <= 20
