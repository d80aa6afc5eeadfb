"""Analytics' background tasks: the insights schedule and a member's "Refresh now"."""

from __future__ import annotations

from typing import Any

from analytics.insights import insights_refresh_due, insights_refresh_run
from instaforge.correlation import correlation_bind


def insights_refresh_schedule() -> int:
    """Hourly: enqueue a reading of every connected account whose insights are older than REFRESH_EVERY."""
    with correlation_bind(fresh=True):
        return insights_refresh_due()


def _summary(workspace_id: int, account_id: int, *, manual: bool) -> dict[str, Any]:
    with correlation_bind(fresh=True, workspace_id=workspace_id):
        result = insights_refresh_run(workspace_id=workspace_id, account_id=account_id, manual=manual)
    return {
        "account": result.account_id,
        "skipped": result.skipped,
        "outcome": result.outcome,
        "calls": result.calls,
        "media": result.media,
    }


def insights_refresh_task(workspace_id: int, account_id: int) -> dict[str, Any]:
    """One account's scheduled reading (safe to run twice: figures are upserted)."""
    return _summary(workspace_id, account_id, manual=False)


def insights_manual_refresh_task(workspace_id: int, account_id: int) -> dict[str, Any]:
    """A member's "Refresh now" (rate-limited when it was asked, in ``insights_refresh_request``)."""
    return _summary(workspace_id, account_id, manual=True)
