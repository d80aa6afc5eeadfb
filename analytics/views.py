"""The analytics pages: the workspace's and an account's, with charts and CSV exports.

``?format=csv&chart=<name>`` on either page streams that one chart's numbers (the rows of the table under the
chart, from the same ``Chart``), for the page's period. Every read runs in the member's workspace scope: another
workspace's account is a 404, its rows never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.text import slugify

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from analytics.insights import account_insights_series
from analytics.selectors import (
    CHART_NAMES,
    PERIOD_PRESETS,
    RANK_CONVERSION,
    RANK_USE,
    Analytics,
    Period,
    accounts_of_workspace,
    analytics_read,
    period_parse,
)
from instaforge.lists import csv_cell, csv_rows_stream
from warmup.clock import account_zone


def _member_zone() -> ZoneInfo:
    """The member's own time zone (``User.time_zone``, activated per request by the time-zone middleware), else UTC."""
    zone = timezone.get_current_timezone()
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo("UTC")


def _csv_response(
    *, name: str, header: list[Any], rows: Iterable[Sequence[Any]], period: Period, scope: str
) -> StreamingHttpResponse:
    """A chart's or table's rows as a streamed CSV: its header, then its rows, each cell guarded against formulas."""
    header = [str(csv_cell(cell)) for cell in header]
    response = StreamingHttpResponse(csv_rows_stream(header, rows), content_type="text/csv; charset=utf-8")
    filename = f"analytics_{scope}_{name}_{period.start.isoformat()}_{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _page(
    request: WorkspaceRequest, *, zone: ZoneInfo, account: InstagramAccount | None, scope: str
) -> HttpResponseBase:
    period, errors = period_parse(params=request.GET, zone=zone)
    # The ranking of rules and flows: by use unless conversion is asked for (anything else: by use, no error).
    rank = RANK_CONVERSION if request.GET.get("rank") == RANK_CONVERSION else RANK_USE
    if request.GET.get("format") == "csv":
        name = request.GET.get("chart", "")
        if account is not None and name in INSIGHTS_TABLES:
            if errors:
                return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
            header, rows = _insights_table(account=account, period=period, name=name)
            return _csv_response(name=name, header=header, rows=rows, period=period, scope=scope)
        if name not in CHART_NAMES or (name == "warmup" and account is None):
            raise Http404("No such chart.")
        if errors:
            # An export of another period than the one asked for would mislead: say what is wrong instead.
            return HttpResponse(" ".join(errors), status=400, content_type="text/plain; charset=utf-8")
        shown = analytics_read(period=period, account=account, only=name, rank=rank)
        chart = shown.charts[name]
        return _csv_response(name=name, header=chart.header, rows=chart.rows, period=period, scope=scope)
    shown = analytics_read(period=period, account=account, rank=rank)
    return render(
        request,
        "analytics/analytics.html",
        {
            "analytics": shown,
            "account": account,
            "period": period,
            "errors": errors,
            "presets": PERIOD_PRESETS,
            "ranks": ((RANK_USE, "By use"), (RANK_CONVERSION, "By conversion")),
            "charts": list(shown.charts.values()),
            "chart_data": shown.chart_data(),
            "period_query": _period_query(shown),
            "accounts": list(accounts_of_workspace()) if account is None else [],
            # Meta's insights of the account, for the same days (the insights partial, analytics.insights).
            "insights": account_insights_series(account=account, start=period.start, end=period.end)
            if account is not None
            else None,
        },
        status=400 if errors else 200,
    )


# Meta's insights as CSV (the account page's insights partial): its two tables, by day and by post.
INSIGHTS_TABLES = ("insights_days", "insights_posts")
INSIGHTS_POST_COLUMNS = ("reach", "views", "likes", "comments", "shares", "saved", "total_interactions")


def _insights_table(*, account: InstagramAccount, period: Period, name: str) -> tuple[list[Any], list[list[Any]]]:
    """One of the insights partial's tables (its header and rows) for the CSV export: the figures it shows."""
    insights = account_insights_series(account=account, start=period.start, end=period.end)
    if name == "insights_days":
        header = ["day", *insights["columns"]]
        rows = [[day.isoformat(), *values] for day, values in insights["rows"]]
    else:
        header = ["media id", "posted at", "caption", "permalink", *INSIGHTS_POST_COLUMNS]
        rows = [
            [
                post["media_id"],
                post["posted_at"].isoformat() if post["posted_at"] else "",
                post["caption"],
                post["permalink"],
                *(post[column] for column in INSIGHTS_POST_COLUMNS),
            ]
            for post in insights["posts"]
        ]
    return header, rows


def _period_query(shown: Analytics) -> str:
    """The query string that asks for the same period again (for the CSV links)."""
    period = shown.period
    query = f"days={period.preset}" if period.preset is not None else f"from={period.start}&to={period.end}"
    return query + (f"&rank={shown.rank}" if shown.rank != RANK_USE else "")


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; the CSV export streams
def workspace_analytics(request: WorkspaceRequest) -> HttpResponseBase:
    """Every account of the workspace together, by day in the member's own time zone (UTC until they choose one)."""
    return _page(request, zone=_member_zone(), account=None, scope="workspace")


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; the CSV export streams
def account_analytics(request: WorkspaceRequest, account_id: int) -> HttpResponseBase:
    """One account, by day in the account's own time zone (as its warm-up days are)."""
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    scope = slugify(account.username or "") or f"account-{account.pk}"
    return _page(request, zone=account_zone(account), account=account, scope=scope)
