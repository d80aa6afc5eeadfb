"""``{{ action|due_why }}``: when a planned action is due and why, in plain words.

"in 40 s: human-like delay", "tomorrow 12:00 Paris: warm-up day 2 (first phase): comment replies start on
day 3 …". Soon (under an hour) reads as a countdown; later reads as a time in the *account's* zone, named
by its city, since the account's local hours are what held it back. The absolute time is always in the
``<time>`` element's title. The reason is the gate's last deferral (``Action.last_reason``) when there is
one, else why it was planned later than at once (the human-timing delay, a typing indicator, a schedule).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts.templatetags.when import as_aware, full_text, resolve_zone, when_html
from actions.models import Action, ActionState, ActionType

register = template.Library()

# The warm-up's reasons end with the time they were written for ("; waits until tomorrow 12:00 local time
# (Europe/Paris)"): stale a day later, and the due time is shown fresh beside the reason anyway.
_WAITS_UNTIL = re.compile(r";\s*waits until .*$")

SOON = dt.timedelta(hours=1)


@dataclass(frozen=True)
class DueWhy:
    """What the pages show for a planned action: ``due`` (words), ``reason`` (words), and the moment."""

    due: str
    reason: str
    at: dt.datetime
    relative: bool


def countdown(delta: dt.timedelta) -> str:
    """ "in 40 s", "in 12 min", "in 1 h 5 min" (rounded up: never "in 0 s" for something still ahead)."""
    seconds = max(1, int(delta.total_seconds() + 0.999))
    if seconds < 60:
        return f"in {seconds} s"
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return f"in {minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"in {hours} h {rest} min" if rest else f"in {hours} h"


def plain_reason(action: Action) -> str:
    """Why the action waits: the gate's last deferral, else why it was planned for later."""
    if action.state == ActionState.CLAIMED:
        return "the safety gate is checking it now"
    reason = _WAITS_UNTIL.sub("", (action.last_reason or "").strip())
    if reason:
        return reason
    if (action.payload or {}).get("sent_by"):
        return "sent by a person: no delay, waiting for the dispatcher"
    if action.action_type == ActionType.SENDER_ACTION:
        return "typing indicator, shown just before the reply"
    if action.action_type == ActionType.PUBLISH:
        return "scheduled publication"
    if action.action_type == ActionType.FIRST_COMMENT:
        return "first comment, after the post is published"
    if action.due_at > action.created_at + dt.timedelta(seconds=1):
        return "human-like delay"
    return "waiting for the dispatcher"


def action_due_why(action: Action, *, now: dt.datetime | None = None) -> DueWhy | None:
    """When and why for a planned (or being-checked) action; None for one that already ran or was dropped."""
    if action.state not in (ActionState.PLANNED, ActionState.CLAIMED):
        return None
    now = now or timezone.now()
    due_at = as_aware(action.due_at)
    reason = plain_reason(action)
    if due_at <= now:
        return DueWhy("due now", reason, due_at, relative=True)
    if due_at - now < SOON:
        return DueWhy(countdown(due_at - now), reason, due_at, relative=True)
    return DueWhy("", reason, due_at, relative=False)


def due_why_html(action: Action, *, account: Any = None, now: dt.datetime | None = None) -> SafeString | str:
    """The ``<span>`` the pages show: the due time (a ``<time>``) and the reason.

    ``account`` spares a query where the page already holds the action's account (a comment's, a
    conversation's); by default it is ``action.account``.
    """
    shown = action_due_why(action, now=now)
    if shown is None:
        return ""
    account = account if account is not None else action.account
    due: SafeString | str
    if shown.relative:
        iso = shown.at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        due = format_html(
            '<time datetime="{}" title="{}">{}</time>',
            iso,
            full_text(shown.at, zone=resolve_zone(account)),
            shown.due,
        )
    else:
        due = when_html(shown.at, account, now=now)
    return format_html('<span class="due-why" data-testid="due-why">{}: {}</span>', due, shown.reason)


@register.filter(name="due_why", is_safe=True)
def due_why(action: Any, account: Any = None) -> SafeString | str:
    """``{{ action|due_why }}`` (or ``|due_why:comment.account``): "in 40 s: human-like delay"; "" if not waiting."""
    if not isinstance(action, Action):
        return ""
    return due_why_html(action, account=account or None)
