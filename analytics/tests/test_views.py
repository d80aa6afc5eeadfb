"""The analytics pages and their CSV exports: what a member sees, the same numbers in the CSV, tenancy, input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import InstagramAccount, User, Workspace
from accounts.tenancy import workspace_scope
from analytics.selectors import CHART_NAMES, analytics_read, period_last
from analytics.tests.seed import seed_ledger
from messaging.models import Flow
from warmup.clock import account_zone


@pytest.fixture
def member(make_user) -> User:
    return make_user("analyst@example.com")


@pytest.fixture
def account(member: User, make_workspace, make_account) -> InstagramAccount:
    workspace: Workspace = make_workspace("Mine", owner=member)
    account = make_account(workspace)
    seed_ledger(account, datetime.now(UTC))
    seed_ledger(make_account(make_workspace("Theirs")), datetime.now(UTC))
    return account


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def _cells(row: list[object]) -> list[str]:
    return ["" if cell is None else str(cell) for cell in row]


def test_the_workspace_page_shows_the_charts(client: Client, member: User, account: InstagramAccount) -> None:
    client.force_login(member)
    response = client.get(reverse("analytics"))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-testid="stat-sent">6<' in content
    assert 'data-testid="stat-comment-median">20 s<' in content
    assert 'data-testid="stat-comment-p95">1 min 30 s<' in content
    assert 'data-testid="stat-handovers">2<' in content
    assert "vendor/chartjs/chart.umd.min.js" in content and "js/analytics.js" in content
    assert 'id="analytics-data"' in content and "<script>" not in content  # the CSP: no inline script
    for name in ("volume", "outcomes", "response_times", "conversations", "rules", "flows", "risk"):
        assert f'data-testid="chart-{name}"' in content, name
        assert f"format=csv&amp;chart={name}" in content, name
    assert 'data-testid="chart-warmup"' not in content
    assert "Comment rule: Prices" in content and "Welcome flow" in content
    assert reverse("account_analytics", args=[account.pk]) in content
    assert 'data-testid="nav-analytics"' in content
    assert "<strong>UTC</strong>" in content


def test_the_account_page_is_in_the_account_time_zone(client: Client, member: User, account: InstagramAccount) -> None:
    account.time_zone = "Europe/Paris"
    account.save(update_fields=["time_zone"])
    client.force_login(member)
    response = client.get(reverse("account_analytics", args=[account.pk]))
    assert response.status_code == 200
    content = response.content.decode()
    assert "<strong>Europe/Paris</strong>" in content
    assert 'data-testid="chart-warmup"' in content
    assert response.context["period"].zone_name == "Europe/Paris"
    detail = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert reverse("account_analytics", args=[account.pk]) in detail


def test_the_workspace_page_is_in_the_member_time_zone(client: Client, member: User, account: InstagramAccount) -> None:
    member.time_zone = "Asia/Tokyo"
    member.save(update_fields=["time_zone"])
    client.force_login(member)
    response = client.get(reverse("analytics"))
    assert response.context["period"].zone_name == "Asia/Tokyo"
    assert "<strong>Asia/Tokyo</strong>" in response.content.decode()


@pytest.mark.parametrize("scope", ["workspace", "account"])
def test_each_csv_has_the_chart_rows(client: Client, member: User, account: InstagramAccount, scope: str) -> None:
    client.force_login(member)
    url = reverse("analytics") if scope == "workspace" else reverse("account_analytics", args=[account.pk])
    with workspace_scope(account.workspace):
        shown = analytics_read(
            period=period_last(days=7, zone=account_zone(account) if scope == "account" else ZoneInfo("UTC")),
            account=account if scope == "account" else None,
        )
    for name in CHART_NAMES:
        if name == "warmup" and scope == "workspace":
            assert client.get(url, {"days": "7", "format": "csv", "chart": name}).status_code == 404
            continue
        response = client.get(url, {"days": "7", "format": "csv", "chart": name})
        rows = _csv(response)
        chart = shown.charts[name]
        assert rows[0] == [str(cell) for cell in chart.header], name
        assert rows[1:] == [_cells(row) for row in chart.rows], name
        assert f"_{name}_" in response["Content-Disposition"]
    volume = _csv(client.get(url, {"days": "7", "format": "csv", "chart": "volume"}))
    assert sum(int(row[1]) for row in volume[1:]) == 3  # the comment replies of the ledger


def test_csv_cells_cannot_become_formulas(client: Client, member: User, account: InstagramAccount) -> None:
    Flow.all_workspaces.filter(account=account).update(name='=HYPERLINK("http://evil.example","x")')
    client.force_login(member)
    rows = _csv(client.get(reverse("analytics"), {"format": "csv", "chart": "flows"}))
    assert rows[1][0] == '\'=HYPERLINK("http://evil.example","x")'
    account.username = "-1+1"  # a name Instagram never gives, in a column's name
    account.save(update_fields=["username"])
    rows = _csv(client.get(reverse("analytics"), {"format": "csv", "chart": "risk"}))
    assert rows[0][1] == "'-1+1"
    page = client.get(reverse("analytics")).content.decode()
    assert "&#x27;-1+1" not in page  # the page shows names as they are: the quote is for spreadsheets only


def test_another_workspace_gets_404_and_never_counts(
    client: Client, make_user, make_workspace, account: InstagramAccount
) -> None:
    stranger = make_user("stranger@example.com")
    make_workspace("Stranger's", owner=stranger)
    client.force_login(stranger)
    assert client.get(reverse("account_analytics", args=[account.pk])).status_code == 404
    assert (
        client.get(reverse("account_analytics", args=[account.pk]), {"format": "csv", "chart": "volume"}).status_code
        == 404
    )
    response = client.get(reverse("analytics"))
    assert response.status_code == 200
    assert response.context["analytics"].sent == 0
    assert "Comment rule: Prices" not in response.content.decode()
    rows = _csv(client.get(reverse("analytics"), {"format": "csv", "chart": "volume"}))
    assert all(cell == "0" for row in rows[1:] for cell in row[1:])


def test_a_logged_out_visitor_is_sent_to_log_in(client: Client, account: InstagramAccount) -> None:
    response = client.get(reverse("analytics"))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    "params",
    [
        {"days": "1000"},
        {"from": "2026-02-30", "to": "2026-03-01"},
        {"from": "'; DROP TABLE actions_action; --", "to": "2026-03-01"},
        {"from": "2026-03-02", "to": "2026-03-01"},
        {"from": "1900-01-01", "to": "2026-03-01"},
        {"from": "9999-12-31", "to": "9999-12-31"},
        {"from": "2026-03-01"},
        {"to": "%00"},
    ],
)
def test_a_bad_period_is_a_message_never_a_500(
    client: Client, member: User, account: InstagramAccount, params: dict[str, str]
) -> None:
    client.force_login(member)
    response = client.get(reverse("analytics"), params)
    assert response.status_code == 400
    assert 'data-testid="analytics-errors"' in response.content.decode()
    assert response.context["period"].preset == 30  # the default period is shown beside the message
    exported = client.get(reverse("analytics"), {**params, "format": "csv", "chart": "volume"})
    assert exported.status_code == 400 and exported["Content-Type"].startswith("text/plain")


def test_an_unknown_chart_is_404(client: Client, member: User, account: InstagramAccount) -> None:
    client.force_login(member)
    for name in ("", "nope", "../../etc/passwd", "warmup"):
        assert client.get(reverse("analytics"), {"format": "csv", "chart": name}).status_code == 404


def test_the_page_queries_do_not_grow_with_the_data(client: Client, member: User, account: InstagramAccount) -> None:
    client.force_login(member)
    urls = [reverse("analytics"), reverse("account_analytics", args=[account.pk])]
    counts = []
    for url in urls:
        client.get(url)
        with CaptureQueriesContext(connection) as small:
            assert client.get(url).status_code == 200
        counts.append(len(small.captured_queries))
    seed_ledger(account, datetime.now(UTC))  # twice the rows
    for url, before in zip(urls, counts, strict=True):
        with CaptureQueriesContext(connection) as large:
            assert client.get(url).status_code == 200
        assert len(large.captured_queries) == before <= 30, url


def test_rules_and_flows_ranked_by_conversion(client: Client, member: User, account: InstagramAccount) -> None:
    client.force_login(member)
    by_use = client.get(reverse("analytics")).context["analytics"].charts["rules"]
    assert by_use.labels == ["Comment rule: Prices", "DM rule: Hello"]  # 4 uses (75 %), then 2 uses (100 %)
    response = client.get(reverse("analytics"), {"days": "7", "rank": "conversion"})
    assert response.context["analytics"].charts["rules"].labels == ["DM rule: Hello", "Comment rule: Prices"]
    assert "rank=conversion&amp;format=csv&amp;chart=rules" in response.content.decode()
    rows = _csv(
        client.get(reverse("analytics"), {"days": "7", "rank": "conversion", "format": "csv", "chart": "rules"})
    )
    assert [row[0] for row in rows[1:]] == ["DM rule: Hello", "Comment rule: Prices"]
    assert client.get(reverse("analytics"), {"rank": "<script>"}).context["analytics"].rank == "use"
