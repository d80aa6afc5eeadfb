"""``{% warmup_card account %}``: the warm-up's progress in a card, for the account's page."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.models import InstagramAccount
from warmup.clock import warmup_day_of
from warmup.selectors import warmup_progress

register = template.Library()


@register.inclusion_tag("warmup/_card.html")
def warmup_card(account: InstagramAccount) -> dict[str, Any]:
    """Nothing (and no query) for an account that is not warming up; its warm-up page keeps the history."""
    if warmup_day_of(account) is None:
        return {"account": account, "progress": None}
    return {"account": account, "progress": warmup_progress(account=account, events=5)}
