"""Reads of scheduled publishing (scoped to the workspace in scope)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.core.paginator import Page
from django.db.models import Count, QuerySet

from actions.models import Action, ActionDecision
from instaforge.lists import ListQuery, date_range_filter, numbered_page
from publishing.models import PostEvent, ScheduledPost
from publishing.windows import local_time, outside_active_hours


def posts_queue(*, state: str | None = None) -> QuerySet[ScheduledPost]:
    posts = ScheduledPost.objects.select_related("account").annotate(media_count=Count("media"))
    if state:
        posts = posts.filter(state=state)
    return posts.order_by("scheduled_at", "id")


def posts_page(*, query: ListQuery, state: str = "") -> Page[ScheduledPost]:
    """One page of the publishing queue (soonest first) by caption search and scheduled date, by page number.

    Numbered pages (Paginator): an account publishes a few posts a day, so the queue stays in the thousands
    and "page 2 of 9" costs one cheap COUNT. The date range reads the scheduled time (in the member's zone):
    a post not scheduled yet has none, so a range leaves drafts without a time out.
    """
    posts = posts_queue(state=state or None)
    if query.search:
        posts = posts.filter(caption__icontains=query.search)
    return numbered_page(date_range_filter(posts, field_name="scheduled_at", query=query), query=query)


def posts_state_counts() -> dict[str, int]:
    return dict(ScheduledPost.objects.values_list("state").annotate(count=Count("id")).values_list("state", "count"))


def post_flag(post: ScheduledPost) -> str:
    """The warning to show next to a scheduled time (outside the account's active hours)."""
    if post.scheduled_at is None or post.state not in {"draft", "scheduled"}:
        return ""
    return outside_active_hours(post.account, post.scheduled_at)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str
    message: str
    action_id: int | None = None


def post_history(*, post: ScheduledPost) -> list[HistoryEntry]:
    """The post's own events and the safety gate's decisions on each of its steps, in time order."""
    entries = [
        HistoryEntry(event.at, event.get_kind_display(), event.message, event.action_id)
        for event in PostEvent.objects.filter(post=post)
    ]
    actions = Action.objects.filter(source_kind="post", source_id=str(post.pk))
    for decision in ActionDecision.objects.filter(action__in=actions).select_related("action"):
        step = decision.action.payload.get("step") or decision.action.action_type
        entries.append(
            HistoryEntry(
                decision.at, f"Gate: {decision.get_verdict_display()}", f"{step}: {decision.reason}", decision.action_id
            )
        )
    return sorted(entries, key=lambda entry: entry.at)


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    posts: list[dict[str, Any]]


def calendar_days(*, start: date, days: int, month: int | None = None) -> list[CalendarDay]:
    """The posts of ``days`` days from ``start``, each placed on its day in its account's time zone."""
    begin = datetime.combine(start - timedelta(days=1), datetime.min.time()).astimezone()
    end = datetime.combine(start + timedelta(days=days + 1), datetime.min.time()).astimezone()
    posts = (
        ScheduledPost.objects.select_related("account")
        .filter(scheduled_at__gte=begin, scheduled_at__lt=end)
        .order_by("scheduled_at", "id")
    )
    grid = {
        start + timedelta(days=offset): CalendarDay(start + timedelta(days=offset), True, []) for offset in range(days)
    }
    for post in posts:
        assert post.scheduled_at is not None
        local = local_time(post.account, post.scheduled_at)
        cell = grid.get(local.date())
        if cell is None:
            continue
        cell.posts.append({"post": post, "local": local, "flag": post_flag(post)})
    if month is not None:
        for cell in grid.values():
            cell.in_month = cell.day.month == month
    return list(grid.values())
