"""Meta's insights: the documented answers parse, the sandbox serves them, readings are stored and bounded."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Membership, User
from accounts.tenancy import NoWorkspaceInScope, workspace_scope
from analytics.insights import (
    MANUAL_REFRESH_EVERY,
    MEDIA_METRICS,
    RECENT_MEDIA,
    REFRESH_EVERY,
    TOTAL_VALUE_METRICS,
    WINDOW_DAYS,
    account_insights_series,
    insights_accounts_due,
    insights_refresh,
    insights_refresh_request,
    lifetime_values,
    time_series_rows,
    total_value_rows,
)
from analytics.models import AccountInsight, InsightsOutcome, InsightsRefresh, MediaInsight
from instagram.client import InstagramClient
from instagram.errors import InvalidParameterError, PermissionDeniedError
from safety.models import AccountUsage
from sandbox.models import SandboxAccount, SandboxCall
from sandbox.services import sandbox_account_create, sandbox_media_create
from sandbox.testing import SandboxServer
from sandbox.tests.conftest import issue_token
from tests.factories import account_connected_in_sandbox

FIXTURES = Path(__file__).resolve().parents[2] / "instagram" / "tests" / "fixtures" / "meta"
WITH_INSIGHTS = ("instagram_business_manage_comments", "instagram_business_manage_insights")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# --- the documented answers ------------------------------------------------------------------------------


def test_documented_time_series_answer_parses_into_one_row_per_day() -> None:
    rows = time_series_rows(fixture("insights_account_time_series_response.json")["data"])

    # end_time closes the day it counts (the guide's "2018-01-12T08:00:00+0000" is the end of 11 January, PT).
    assert ("reach", date(2018, 1, 11), 12) in rows
    assert ("reach", date(2018, 1, 10), 12) in rows
    assert len(rows) == 6


def test_documented_total_value_answer_parses_into_the_days_total() -> None:
    rows = total_value_rows(fixture("insights_account_total_value_response.json")["data"], day=date(2022, 7, 28))

    assert rows == [("reach", date(2022, 7, 28), 224)]


def test_documented_media_answer_parses_into_lifetime_values() -> None:
    assert lifetime_values(fixture("insights_media_response.json")["data"]) == {
        "engagement": 8,
        "impressions": 13,
        "reach": 13,
    }


def test_an_empty_answer_stores_nothing_rather_than_zero() -> None:
    # "the API returns an empty data set instead of 0" (both references' Limitations).
    assert time_series_rows([]) == [] and total_value_rows([], day=date(2026, 1, 1)) == [] and lifetime_values([]) == {}


# --- the sandbox answers like the documented examples ----------------------------------------------------


@pytest.fixture
def sandbox_client(sandbox_server: SandboxServer) -> tuple[InstagramClient, SandboxAccount]:
    account = sandbox_account_create(username="insights.shop")
    return InstagramClient(access_token=issue_token(account).token, max_retries=0), account


def _same_shape(served: dict, documented: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        assert type(served[key]) is type(documented[key]), key


def test_sandbox_account_answers_have_the_documented_shapes(sandbox_client) -> None:
    client, _ = sandbox_client
    day = datetime(2026, 11, 30, tzinfo=UTC)
    since, until = int(day.timestamp()), int((day + timedelta(days=3)).timestamp())

    series = client.account_insights(metrics=["reach", "follower_count"], since=since, until=until)
    totals = client.account_insights(metrics=list(TOTAL_VALUE_METRICS), metric_type="total_value", since=since)

    documented_series = fixture("insights_account_time_series_response.json")["data"][1]
    documented_total = fixture("insights_account_total_value_response.json")["data"][0]
    assert set(series[0]) == set(documented_series)
    _same_shape(series[0]["values"][0], documented_series["values"][0], ("value", "end_time"))
    assert [point["end_time"] for point in series[0]["values"]] == [
        "2026-12-01T00:00:00+0000",
        "2026-12-02T00:00:00+0000",
        "2026-12-03T00:00:00+0000",
    ]
    assert series[0]["id"].endswith("/insights/reach/day")
    assert {key for key in documented_total if key != "total_value"} <= set(totals[0])
    assert isinstance(totals[0]["total_value"]["value"], int)
    assert [item["name"] for item in totals] == list(TOTAL_VALUE_METRICS)


def test_sandbox_media_answers_have_the_documented_shape(sandbox_client) -> None:
    client, account = sandbox_client
    media = account.media.first()

    items = client.media_insights(media_id=media.media_id, metrics=list(MEDIA_METRICS))

    documented = fixture("insights_media_response.json")["data"][0]
    assert [set(item) for item in items] == [set(documented)] * len(MEDIA_METRICS)
    assert all(item["period"] == "lifetime" and isinstance(item["values"][0]["value"], int) for item in items)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metrics": ["impressions"]}, "metric[0] must be one of the following values"),
        ({"metrics": ["reach", "followers"]}, "metric[1] must be one of the following values"),
        ({"metrics": ["views"]}, "The following metrics (views) should be specified with parameter metric_type"),
        ({"metrics": ["follower_count"], "metric_type": "total_value"}, "not supported for follower_count"),
        ({"metrics": ["reach"], "since": 1, "until": 40 * 86400}, "more than 30 days between since and until"),
    ],
)
def test_sandbox_refuses_what_graph_refuses(sandbox_client, params: dict, message: str) -> None:
    client, _ = sandbox_client

    with pytest.raises(InvalidParameterError) as refused:
        client.account_insights(**params)

    assert refused.value.code == 100 and message in refused.value.message


def test_sandbox_refuses_insights_without_the_permission(sandbox_server: SandboxServer) -> None:
    account = sandbox_account_create(username="no.insights")
    client = InstagramClient(access_token=issue_token(account, scopes=["instagram_business_basic"]).token)

    with pytest.raises(PermissionDeniedError):
        client.account_insights(metrics=["reach"])
    with pytest.raises(PermissionDeniedError):
        client.media_insights(media_id=account.media.get().media_id, metrics=["reach"])


# --- reading and storing ------------------------------------------------------------------------------


@pytest.fixture
def connected(sandbox_server: SandboxServer, make_workspace) -> tuple[InstagramAccount, SandboxAccount]:
    account, sandbox_account = account_connected_in_sandbox(
        workspace=make_workspace(), username="bakery.insights", scopes=WITH_INSIGHTS
    )
    sandbox_media_create(account=sandbox_account, caption="Croissants are back")
    return account, sandbox_account


def _refresh(account: InstagramAccount, **kwargs):
    with workspace_scope(account.workspace_id):
        return insights_refresh(account_id=account.pk, **kwargs)


def test_refresh_stores_the_accounts_days_and_its_posts(connected) -> None:
    account, sandbox_account = connected

    result = _refresh(account)

    assert result.outcome == InsightsOutcome.OK and not result.skipped
    yesterday = timezone.now().date() - timedelta(days=1)
    with workspace_scope(account.workspace_id):
        stored = AccountInsight.objects.filter(account=account)
        days = set(stored.filter(metric="views").values_list("day", flat=True))
        assert days == {yesterday - timedelta(days=offset) for offset in range(WINDOW_DAYS)}
        assert stored.filter(metric="reach").count() == WINDOW_DAYS
        assert stored.filter(metric="follower_count").count() == WINDOW_DAYS
        assert stored.get(metric="followers_count").value >= 1000
        posts = MediaInsight.objects.filter(account=account)
        assert posts.count() == sandbox_account.media.count() == 2
        assert all(set(post.metrics) == set(MEDIA_METRICS) for post in posts)
        record = InsightsRefresh.objects.get(account=account)
    assert record.outcome == InsightsOutcome.OK and record.succeeded_at is not None
    # /me, the time series, one call per day and the media list, then one call per post.
    assert result.calls == 3 + WINDOW_DAYS + 2 == record.calls
    assert SandboxCall.objects.filter(path__contains="/insights").count() == 1 + WINDOW_DAYS + 2


def test_the_stored_figures_are_what_the_sandbox_served(connected) -> None:
    account, sandbox_account = connected
    _refresh(account)
    yesterday = timezone.now().date() - timedelta(days=1)
    start = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC)
    client = InstagramClient(access_token=issue_token(sandbox_account).token)

    served = client.account_insights(
        metrics=["views"], metric_type="total_value", since=int(start.timestamp()), until=int(start.timestamp()) + 86400
    )

    with workspace_scope(account.workspace_id):
        assert (
            AccountInsight.objects.get(account=account, metric="views", day=yesterday).value
            == (served[0]["total_value"]["value"])
        )


def test_a_second_reading_updates_and_only_rereads_the_revisable_days(connected) -> None:
    account, _ = connected
    _refresh(account)
    with workspace_scope(account.workspace_id):
        AccountInsight.objects.filter(account=account, metric="views").update(value=-1)
        count = AccountInsight.objects.filter(account=account).count()
        posts = MediaInsight.objects.filter(account=account).count()

    second = _refresh(account)

    assert second.days == 3  # the days Meta may still revise; the settled ones are kept
    with workspace_scope(account.workspace_id):
        assert AccountInsight.objects.filter(account=account).count() == count
        assert MediaInsight.objects.filter(account=account).count() == posts
        views = AccountInsight.objects.filter(account=account, metric="views")
        assert views.filter(value=-1).count() == WINDOW_DAYS - 3
        assert not views.filter(value=-1, day__gte=timezone.now().date() - timedelta(days=3)).exists()


def test_posts_are_bounded_to_the_recent_ones(connected) -> None:
    account, sandbox_account = connected
    for number in range(RECENT_MEDIA + 2):
        sandbox_media_create(account=sandbox_account, caption=f"post {number}")

    result = _refresh(account)

    assert result.media == RECENT_MEDIA


@pytest.mark.parametrize("state", [AccountState.INACTIVE, AccountState.ERROR, AccountState.SUSPENDED])
def test_a_disconnected_account_is_not_read(connected, state: str) -> None:
    account, _ = connected
    InstagramAccount.all_workspaces.filter(pk=account.pk).update(state=state)
    before = SandboxCall.objects.count()

    result = _refresh(account)

    assert result.skipped and result.calls == 0
    assert SandboxCall.objects.count() == before
    assert (account.workspace_id, account.pk) not in insights_accounts_due()


def test_an_account_instagram_holds_or_whose_usage_is_high_is_not_read(connected) -> None:
    account, _ = connected
    before = SandboxCall.objects.count()
    usage, _ = AccountUsage.objects.get_or_create(account=account)
    usage.regain_at, usage.regain_reason = timezone.now() + timedelta(minutes=20), "rate limit"
    usage.save()

    held = _refresh(account)

    AccountUsage.objects.filter(pk=usage.pk).update(regain_at=None, peak_percent=80, updated_at=timezone.now())
    busy = _refresh(account)

    assert "no calls until" in held.skipped and "usage at 80 %" in busy.skipped
    assert SandboxCall.objects.count() == before
    with workspace_scope(account.workspace_id):
        assert InsightsRefresh.objects.get(account=account).outcome == InsightsOutcome.RATE_LIMITED


def test_a_reading_stops_when_the_usage_climbs(connected, monkeypatch: pytest.MonkeyPatch) -> None:
    account, _ = connected
    calls = []

    def climbing(*, account_id: int, now: datetime) -> str:
        calls.append(now)
        return "Instagram usage at 90 %: the replies keep what is left" if len(calls) > 2 else ""

    monkeypatch.setattr("analytics.insights._usage_block", climbing)

    result = _refresh(account)

    # Checked before the reading (1), before its second call (2), before its third: stopped there.
    assert result.outcome == InsightsOutcome.RATE_LIMITED and result.calls == 2
    assert "Stopped early" in result.detail


def test_a_missing_permission_is_recorded_and_not_asked_again(sandbox_server: SandboxServer, make_workspace) -> None:
    account, _ = account_connected_in_sandbox(workspace=make_workspace(), username="no.perm")
    assert "instagram_business_manage_insights" not in account.token_permissions
    before = SandboxCall.objects.count()

    result = _refresh(account)

    assert "instagram_business_manage_insights" in result.skipped
    assert SandboxCall.objects.count() == before  # the token says so: no call at all
    with workspace_scope(account.workspace_id):
        record = InsightsRefresh.objects.get(account=account)
    assert record.outcome == InsightsOutcome.PERMISSION_MISSING
    later = timezone.now() + REFRESH_EVERY * 3
    assert (account.workspace_id, account.pk) not in insights_accounts_due(now=later)


def test_a_permission_refused_by_instagram_is_recorded(connected) -> None:
    account, sandbox_account = connected
    # Meta's answer is what counts when the token's permissions were not recorded.
    InstagramAccount.all_workspaces.filter(pk=account.pk).update(token_permissions="")
    sandbox_account.tokens.update(scopes="instagram_business_basic")

    result = _refresh(account)

    assert result.outcome == InsightsOutcome.PERMISSION_MISSING and result.calls >= 1
    assert (account.workspace_id, account.pk) not in insights_accounts_due(now=timezone.now() + REFRESH_EVERY * 2)
    InstagramAccount.all_workspaces.filter(pk=account.pk).update(connected_at=timezone.now() + REFRESH_EVERY * 2)
    assert (account.workspace_id, account.pk) in insights_accounts_due(now=timezone.now() + REFRESH_EVERY * 3)


def test_accounts_are_due_once_per_refresh_period(connected) -> None:
    account, _ = connected
    assert (account.workspace_id, account.pk) in insights_accounts_due()
    _refresh(account)

    assert (account.workspace_id, account.pk) not in insights_accounts_due()
    assert (account.workspace_id, account.pk) in insights_accounts_due(now=timezone.now() + REFRESH_EVERY)


def test_refresh_now_is_rate_limited_per_account(connected, django_capture_on_commit_callbacks) -> None:
    account, _ = connected
    now = timezone.now()
    with workspace_scope(account.workspace_id):
        first = insights_refresh_request(account=account, now=now)
        again = insights_refresh_request(account=account, now=now + timedelta(minutes=5))
        later = insights_refresh_request(account=account, now=now + MANUAL_REFRESH_EVERY)

    assert first is None and later is None
    assert again == now + MANUAL_REFRESH_EVERY


# --- the series the page shows, and tenancy ---------------------------------------------------------------


def test_series_are_per_day_with_gaps_and_totals(connected) -> None:
    account, _ = connected
    _refresh(account)
    end = timezone.now().date()
    start = end - timedelta(days=WINDOW_DAYS + 1)

    with workspace_scope(account.workspace_id):
        data = account_insights_series(account=account, start=start, end=end)

    assert len(data["chart"]["days"]) == WINDOW_DAYS + 2
    assert data["chart"]["series"]["views"][0] is None  # before the window: nothing stored
    assert data["totals"]["views"] == sum(value for value in data["chart"]["series"]["views"] if value)
    assert data["totals"]["followers_count"] >= 1000
    assert len(data["posts"]) == 2 and data["has_data"]
    json.dumps(data["chart"])  # what json_script receives


def test_stored_insights_are_the_workspaces_own(connected, make_workspace, make_account) -> None:
    account, _ = connected
    _refresh(account)
    other = make_account(make_workspace(name="Other"))

    with pytest.raises(NoWorkspaceInScope):
        AccountInsight.objects.count()
    with workspace_scope(other.workspace_id):
        assert not AccountInsight.objects.exists() and not MediaInsight.objects.exists()
        assert not InsightsRefresh.objects.exists()
        assert (
            account_insights_series(account=account, start=date(2020, 1, 1), end=timezone.now().date())["chart"][
                "series"
            ]
            == {}
        )


def test_refresh_now_url_is_for_members_of_the_workspace_only(
    connected, make_workspace, make_user, client: Client
) -> None:
    account, _ = connected
    stranger = make_user()
    make_workspace(name="Elsewhere", owner=stranger)
    client.force_login(stranger)

    answer = client.post(f"/instagram/accounts/{account.pk}/analytics/insights/refresh/")

    assert answer.status_code == 404
    with workspace_scope(account.workspace_id):
        assert not InsightsRefresh.objects.filter(account=account, requested_at__isnull=False).exists()


def _member_client(account: InstagramAccount, client: Client) -> Client:
    membership = Membership.all_workspaces.filter(workspace_id=account.workspace_id).select_related("user").first()
    assert membership is not None
    client.force_login(membership.user)
    return client


def test_the_account_page_shows_the_insights(connected, client: Client) -> None:
    account, _ = connected
    _refresh(account)
    _member_client(account, client)

    page = client.get(f"/instagram/accounts/{account.pk}/analytics/?days=30")

    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="insights"' in html and 'id="insights-data"' in html
    assert html.count('data-testid="insights-post"') == 2 and "Croissants are back" in html
    assert "js/insights.js" in html and "<script>" not in html  # data through json_script only (CSP)
    with workspace_scope(account.workspace_id):
        followers = AccountInsight.objects.get(account=account, metric="followers_count").value
    assert f'<div class="stat-value">{followers}</div>' in html


def test_the_insights_tables_export_as_csv_with_the_numbers_shown(connected, client: Client) -> None:
    account, _ = connected
    _refresh(account)
    _member_client(account, client)
    url = f"/instagram/accounts/{account.pk}/analytics/?days=30&format=csv&chart="

    days = list(csv.reader(io.StringIO(client.get(url + "insights_days").getvalue().decode())))
    posts = list(csv.reader(io.StringIO(client.get(url + "insights_posts").getvalue().decode())))

    with workspace_scope(account.workspace_id):
        followers = AccountInsight.objects.get(account=account, metric="followers_count")
        stored_posts = MediaInsight.objects.filter(account=account).count()
    header = [cell.lstrip("\ufeff") for cell in days[0]]
    assert header[0] == "day" and len(days) == 31  # the header, then a row per day of the 30-day period
    by_day = {row[0]: row for row in days[1:]}
    followers_column = next(index for index, name in enumerate(header) if "ollower" in name)
    assert by_day[followers.day.isoformat()][followers_column] == str(followers.value)
    assert len(posts) == 1 + stored_posts and "Croissants are back" in {row[2] for row in posts[1:]}
    other = client.get(f"/instagram/accounts/{account.pk}/analytics/?days=30&format=csv&chart=nonsense")
    assert other.status_code == 404


def test_the_page_says_when_the_permission_is_missing(sandbox_server: SandboxServer, make_workspace, client) -> None:
    account, _ = account_connected_in_sandbox(workspace=make_workspace(), username="no.perm.page")
    _refresh(account)
    _member_client(account, client)

    html = client.get(f"/instagram/accounts/{account.pk}/analytics/").content.decode()

    assert 'data-testid="insights-problem"' in html and "instagram_business_manage_insights" in html


def test_refresh_now_asks_once_per_quarter_hour(connected, client: Client) -> None:
    account, _ = connected
    _member_client(account, client)
    url = f"/instagram/accounts/{account.pk}/analytics/insights/refresh/"

    first = client.post(url, follow=True)
    second = client.post(url, follow=True)

    assert first.redirect_chain[-1][0] == f"/instagram/accounts/{account.pk}/analytics/"
    assert "the figures appear here in a minute or two" in first.content.decode()
    assert "less than 15 minutes ago" in second.content.decode()
    assert client.get(url).status_code == 405
    with workspace_scope(account.workspace_id):
        assert InsightsRefresh.objects.get(account=account).requested_at is not None


def test_the_admin_lists_the_stored_insights_read_only(connected, admin_login, client: Client) -> None:
    account, _ = connected
    _refresh(account)
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    admin_login(client, operator, "a-Strong-pass-123")

    for model in (AccountInsight, MediaInsight, InsightsRefresh):
        opts = model._meta
        listing = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        row = model.all_workspaces.first()
        assert listing.status_code == 200 and row is not None
        page = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
        assert page.status_code == 200
        assert client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add")).status_code == 403
