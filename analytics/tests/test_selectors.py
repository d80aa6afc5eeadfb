"""The analytics reads: figures equal the ledger's own counts, the period and its time zone, tenancy, bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pytest_django.fixtures import Settings

from accounts.models import InstagramAccount, Workspace
from accounts.tenancy import workspace_scope
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionDecision, ActionState, ActionType, Verdict
from analytics.selectors import (
    PERIOD_MAX_DAYS,
    Period,
    analytics_read,
    analytics_warmup,
    percentile,
    period_last,
    period_parse,
)
from analytics.tests.seed import SUCCEEDED, action_at, seed_ledger, warmup_days
from engagement.models import Comment, CommentRule
from engagement.services import comment_rule_save
from messaging.models import ConversationEvent
from sandbox.services import sandbox_comment_post
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from tests.factories import account_connected_in_sandbox

UTC_ZONE = ZoneInfo("UTC")


def _last(days: int, now: datetime | None = None) -> Period:
    return period_last(days=days, zone=UTC_ZONE, now=now)


@pytest.mark.usefixtures("sandbox_server")
def test_a_comment_answered_through_the_sandbox_shows_as_the_ledger_holds_it(
    product_in_process: str, workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="analytics_bakery")
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="Hi {username}!"
        )
    )
    for number, text in enumerate(("price?", "what price", "nice photo")):  # two match the rule, one does not
        posted = sandbox_comment_post(media=sandbox_account.media.get(), from_username=f"fan{number}", text=text)
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_deliver(payload=comment_webhook_payload(comment=posted)).status == 200
    for _ in range(3):
        dispatch_once(worker_id="analytics-test")

    # The first reply went out; the second waits for the gate's 30 s cooldown between comment replies.
    with workspace_scope(workspace):
        sent = Action.objects.filter(account=account, action_type=ActionType.COMMENT_REPLY, state=SUCCEEDED)
        deferrals = ActionDecision.objects.filter(verdict=Verdict.DEFER, reason__startswith="cooldown")
        assert sent.count() == 1 and deferrals.count() >= 1
        received = {comment.pk: comment.received_at for comment in Comment.objects.all()}
        reply = sent.get()
        assert reply.finished_at is not None
        seconds = max(0.0, (reply.finished_at - received[int(reply.source_id)]).total_seconds())
        for shown in (analytics_read(period=_last(7)), analytics_read(period=_last(7), account=account)):
            assert shown.charts["volume"].total(ActionType.COMMENT_REPLY) == sent.count()
            assert shown.charts["outcomes"].total(ActionState.SUCCEEDED) == sent.count()
            assert shown.charts["outcomes"].total("deferred_cooldown") == deferrals.count()
            assert shown.sent == 1
            assert (shown.comment_times.count, shown.comment_times.median_seconds) == (1, seconds)
            assert shown.charts["rules"].rows == [["Comment rule: Prices", 2, 1, 50.0]]


def test_the_charts_on_known_data(workspace: Workspace, make_account) -> None:
    # Noon of today: the seed's rows (up to two hours before ``now``) all fall on today's date whatever the time
    # of the run (at 00:30 UTC, "two hours ago" was yesterday and the day's chart came out empty).
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    account = make_account(workspace)
    seed_ledger(account, now)
    with workspace_scope(workspace):
        shown = analytics_read(period=_last(30, now=now), account=account)
        volume = shown.charts["volume"]
        assert volume.labels[-1] == now.date().isoformat() and len(volume.labels) == 30
        assert {key: volume.total(key) for key in ("comment_reply", "private_reply", "dm", "publish")} == {
            "comment_reply": 3,
            "private_reply": 0,
            "dm": 2,
            "publish": 1,
        }
        # The ledger's own count of the same thing.
        assert (
            shown.sent
            == Action.objects.filter(
                state=SUCCEEDED,
                action_type__in=["comment_reply", "private_reply", "dm", "publish"],
                finished_at__gte=shown.period.since,
            ).count()
        )
        outcomes = shown.charts["outcomes"]
        assert outcomes.total("succeeded") == 6
        assert outcomes.total("failed") == 1
        assert outcomes.total("denied") == 1
        assert outcomes.total("deferred_warmup") == 2
        assert outcomes.total("deferred_cooldown") == 1
        assert sum(int(outcomes.total(s.key) or 0) for s in outcomes.series if s.key.startswith("deferred_")) == (
            ActionDecision.objects.filter(verdict=Verdict.DEFER).count()
        )
        assert (shown.comment_times.count, shown.comment_times.median_seconds, shown.comment_times.p95_seconds) == (
            3,
            20,
            90,
        )
        assert (shown.dm_times.count, shown.dm_times.median_seconds, shown.dm_times.p95_seconds) == (2, 15, 25)
        times = shown.charts["response_times"]
        today = times.labels.index(shown.period.end.isoformat())
        assert [times.rows[today][1], times.rows[today][2], times.rows[today][3]] == [20, 90, 3]
        assert times.rows[0][1:] == [None, None, 0, None, None, 0]
        assert shown.handovers == 2 == ConversationEvent.objects.filter(kind="hand_over").count()
        assert shown.charts["conversations"].total("new_conversation") == 2
        assert shown.charts["rules"].rows == [["Comment rule: Prices", 4, 3, 75.0], ["DM rule: Hello", 2, 2, 100.0]]
        assert shown.charts["flows"].rows == [["Welcome flow", 4, 3, 1, 0, 0, 75.0]]
        risk = shown.charts["risk"]
        assert [series.label for series in risk.series] == [account.username]
        assert risk.series[0].data[-1] == 40 and risk.series[0].data[0] is None

        wide = analytics_read(period=_last(90), account=account)
    assert wide.charts["volume"].total("comment_reply") == 4  # the reply 40 days ago counts in 90 days


def test_a_custom_period_excludes_what_is_outside(workspace: Workspace, make_account) -> None:
    account = make_account(workspace)
    action_at(account, ActionType.DM, SUCCEEDED, datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    action_at(account, ActionType.DM, SUCCEEDED, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))
    action_at(account, ActionType.DM, SUCCEEDED, datetime(2026, 3, 3, 23, 59, tzinfo=UTC))
    action_at(account, ActionType.DM, SUCCEEDED, datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    period = Period(start=date(2026, 3, 2), end=date(2026, 3, 3), zone=UTC_ZONE)
    with workspace_scope(workspace):
        volume = analytics_read(period=period, only="volume").charts["volume"]
    assert volume.rows == [["2026-03-02", 0, 0, 1, 0], ["2026-03-03", 0, 0, 1, 0]]


def test_days_are_the_period_time_zone_days(workspace: Workspace, make_account) -> None:
    paris = make_account(workspace, time_zone="Europe/Paris")  # UTC+1 in March
    action_at(paris, ActionType.DM, SUCCEEDED, datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # 10 March in Paris
    action_at(paris, ActionType.DM, SUCCEEDED, datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # 9 March in Paris
    period = Period(start=date(2026, 3, 9), end=date(2026, 3, 10), zone=ZoneInfo("Europe/Paris"))
    with workspace_scope(workspace):
        volume = analytics_read(period=period, account=paris, only="volume").charts["volume"]
        in_utc = analytics_read(
            period=Period(start=date(2026, 3, 9), end=date(2026, 3, 10), zone=UTC_ZONE), only="volume"
        ).charts["volume"]
    assert [row[3] for row in volume.rows] == [1, 1]
    assert [row[3] for row in in_utc.rows] == [2, 0]


def test_warm_up_actions_against_each_day_target(workspace: Workspace, make_account) -> None:
    account = make_account(workspace)
    today = datetime.now(UTC).date()
    warmup_days(account, today - timedelta(days=2), [5, 8, 12])
    for days_ago, count in ((2, 3), (0, 4)):
        for _ in range(count):
            at = datetime.combine(today - timedelta(days=days_ago), datetime.min.time(), tzinfo=UTC) + timedelta(
                hours=1
            )
            action_at(account, ActionType.COMMENT_REPLY, SUCCEEDED, at)
    action_at(account, ActionType.SENDER_ACTION, SUCCEEDED, datetime.now(UTC))  # not counted by the warm-up
    with workspace_scope(workspace):
        chart = analytics_warmup(period=_last(7), account=account)
    assert [row[1:] for row in chart.rows] == [[5, 3], [8, 0], [12, 4]]
    assert chart.labels[0].endswith("(day 1)")
    with workspace_scope(workspace):  # the workspace page has no warm-up chart: targets are per account
        assert "warmup" not in analytics_read(period=_last(7)).charts


def test_another_workspace_never_counts(workspace: Workspace, make_workspace, make_account) -> None:
    now = datetime.now(UTC)
    mine = make_account(workspace)
    seed_ledger(mine, now)
    other_workspace = make_workspace("Other")
    theirs = make_account(other_workspace)
    seed_ledger(theirs, now)
    seed_ledger(make_account(other_workspace), now)
    with workspace_scope(workspace):
        whole = analytics_read(period=_last(30))
        single = analytics_read(period=_last(30), account=mine)
    for name, chart in whole.charts.items():
        assert chart.rows == single.charts[name].rows, name
    assert [series.label for series in whole.charts["risk"].series] == [mine.username]
    assert whole.sent == 6


def test_period_parse_never_raises(settings: Settings) -> None:
    now = datetime(2026, 5, 20, 12, tzinfo=UTC)
    today = date(2026, 5, 20)

    def parse(**params: str) -> tuple[Period, list[str]]:
        return period_parse(params=params, zone=UTC_ZONE, now=now)

    assert parse() == (Period(start=date(2026, 4, 21), end=today, zone=UTC_ZONE, preset=30), [])
    assert parse(days="7")[0].length == 7
    assert parse(days="90")[0].start == today - timedelta(days=89)
    custom, errors = parse(**{"from": "2026-05-01", "to": "2026-05-03"})
    assert errors == [] and custom.length == 3 and custom.preset is None
    hostile = [
        {"days": "365"},
        {"days": "-1"},
        {"days": "7; DROP TABLE"},
        {"days": "٧"},
        {"from": "2026-05-01"},
        {"to": "2026-05-01"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "20260501", "to": "2026-05-02"},
        {"from": "2026-W01-1", "to": "2026-05-02"},
        {"from": "x" * 10_000, "to": "2026-05-02"},
        {"from": "2026-05-03", "to": "2026-05-01"},
        {"from": "2026-05-01", "to": "2026-05-21"},  # tomorrow
        {"from": "0001-01-01", "to": "2026-05-01"},
        {"from": "2026-05-01\x00", "to": "2026-05-02"},
    ]
    for params in hostile:
        period, errors = parse(**params)
        assert errors, params
        assert period.preset == 30 and period.end == today, params
    longest = today - timedelta(days=PERIOD_MAX_DAYS - 1)
    assert parse(**{"from": longest.isoformat(), "to": today.isoformat()})[1] == []


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.95) is None
    assert percentile([10, 20, 30, 40, 100], 0.95) == 100
    assert percentile(list(range(1, 101)), 0.95) == 95


def test_a_bounded_number_of_queries(workspace: Workspace, make_account, django_assert_max_num_queries: Any) -> None:
    account: InstagramAccount = make_account(workspace)
    now = datetime.now(UTC)
    seed_ledger(account, now)
    with workspace_scope(workspace), django_assert_max_num_queries(12) as small:
        analytics_read(period=_last(90), account=account)
    seed_ledger(account, now - timedelta(days=3))
    with workspace_scope(workspace), django_assert_max_num_queries(12) as large:
        analytics_read(period=_last(90), account=account)
    assert len(large.captured_queries) == len(small.captured_queries)
