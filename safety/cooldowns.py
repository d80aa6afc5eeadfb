"""Cooldowns beyond the per-type one (which ``safety.gate`` counts on the ledger): per person, and backoff.

- Per conversation and per commenter: automated answers to one DM recipient
  wait ``counterpart_cooldowns.conversation`` seconds after the previous one,
  to one commenter ``counterpart_cooldowns.commenter`` seconds. The person is
  the action's ``counterpart_id`` (from the payload, ``actions.services.action_plan``).
- Exponential backoff: after consecutive failures of an account and action
  type (errors other than rate limits, blocks and token problems, which have
  their own consequences), the type waits ``backoff.base_seconds * 2^(n-1)``,
  at most ``backoff.max_seconds``; a success resets it. Stored on
  ``AccountUsage.backoff``, which the gate reads anyway (written by
  ``safety.services`` when an outcome is observed; this module only checks).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

from actions.models import Action, ActionType
from safety.decision import Decision
from safety.ledger import Tally
from safety.models import AccountUsage
from safety.patterns import is_automated
from safety.policies import SafetyPolicy, plural_label

COUNTERPART_KEYS: dict[str, tuple[str, str]] = {
    ActionType.DM: ("counterpart_cooldowns.conversation", "automated DMs to the same person"),
    ActionType.COMMENT_REPLY: ("counterpart_cooldowns.commenter", "automated answers to the same commenter"),
    ActionType.PRIVATE_REPLY: ("counterpart_cooldowns.commenter", "automated answers to the same commenter"),
}
COMMENTER_TYPES: tuple[str, ...] = (ActionType.COMMENT_REPLY, ActionType.PRIVATE_REPLY)
COUNTERPART_LAST = "counterpart_last"  # the tally's name in the gate's one read of the ledger


def _counterpart_rule(action: Action, policy: SafetyPolicy) -> tuple[int, str, frozenset[str]] | None:
    """The cooldown that applies to ``action``'s person: (seconds, what, the action types of earlier answers)."""
    entry = COUNTERPART_KEYS.get(action.action_type)
    if entry is None or not action.counterpart_id or not is_automated(action):
        return None
    key, what = entry
    cooldown = int(policy.setting(key) or 0)
    if not cooldown:
        return None
    types = COMMENTER_TYPES if action.action_type in COMMENTER_TYPES else (action.action_type,)
    return cooldown, what, frozenset(types)


def counterpart_tallies(*, action: Action, now: datetime, policy: SafetyPolicy) -> tuple[dict[str, Tally], timedelta]:
    """What ``counterpart_cooldown_check`` reads, and over how long, for the gate's one read of the ledger."""
    rule = _counterpart_rule(action, policy)
    if rule is None:
        return {}, timedelta(0)
    cooldown, _what, types = rule
    window = timedelta(seconds=cooldown)
    latest = Tally(since=now - window, types=types, counterpart=action.counterpart_id, latest=True)
    return {COUNTERPART_LAST: latest}, window


def counterpart_cooldown_check(*, action: Action, policy: SafetyPolicy, counts: dict[str, Any]) -> Decision | None:
    """Defer an automated answer to someone answered less than the cooldown ago.

    ``counts`` holds ``counterpart_tallies`` as the gate read them.
    """
    rule = _counterpart_rule(action, policy)
    if rule is None:
        return None
    cooldown, what, _types = rule
    last = counts[COUNTERPART_LAST]
    if last is None:
        return None
    return Decision.defer(last + timedelta(seconds=cooldown), f"cooldown: {cooldown} s between {what}")


def backoff_check(*, action: Action, usage: AccountUsage | None, now: datetime) -> Decision | None:
    """Defer an action type that is backing off after consecutive failures."""
    if usage is None or not usage.backoff:
        return None
    entry = usage.backoff.get(action.action_type)
    if entry:
        setattr(action, BACKOFF_PENDING, True)
    until = parse_datetime(str(entry.get("until") or "")) if isinstance(entry, dict) else None
    if until is None or until <= now:
        return None
    assert isinstance(entry, dict)
    return Decision.defer(
        until,
        f"backoff: {entry.get('failures')} consecutive failures of {plural_label(action.action_type)} "
        f"(last: {entry.get('error', 'an error')}); waiting {int(entry.get('seconds', 0))} s",
    )


# Set by the gate on an action whose type was backing off, so a success knows there is something to reset.
BACKOFF_PENDING = "_safety_backoff_pending"
