"""The pattern detector: what makes automation look like automation, caught before it is sent.

Three patterns, each counted on the ledger over the account's own recent
actions (under the account's row lock, like every per-account limit):

- the same reply text (normalised: case, spacing, punctuation and emoji
  ignored) more than ``patterns.repeat_max`` times in
  ``patterns.repeat_window_seconds``. If the action's payload offers
  ``variations`` (alternative texts), an unused one — or the least used one
  still under the limit — replaces the text (outcome *vary*, recorded with
  the original); otherwise the action waits until the oldest repeat leaves the
  window (*defer*);
- a velocity spike: more actions in ``patterns.velocity_window_seconds`` than
  ``patterns.velocity_factor`` times the account's own average for such a
  window over the last 24 hours (and at least ``patterns.velocity_min_actions``):
  the action waits until the window has room (*defer*);
- a burst of answers to one person: more than ``patterns.user_burst_max`` in
  ``patterns.user_burst_window_seconds`` (*defer*).

Every hit is recorded as a ``SafetyEvent`` (at most one per kind and account
in ``FLAG_EVERY``; this module finds them, ``safety.services`` records them),
which the risk assessor scores (*flag*) and the account's safety page shows.
A person's reply from the inbox is not automation and is not checked; sender
actions (typing indicators) neither.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count

from accounts.models import InstagramAccount
from actions.models import NOT_CONTENT_TYPES, Action
from instaforge.text import text_fold
from safety.decision import Decision
from safety.ledger import Tally
from safety.models import SafetyEventKind, SafetyEventOutcome
from safety.policies import SafetyPolicy

DAY = timedelta(days=1)
# A pattern hit is recorded at most once per kind and account in this time (deferrals repeat the check).
FLAG_EVERY = timedelta(minutes=10)
_NOT_WORD = re.compile(r"[^\w]+", re.UNICODE)


@dataclass(frozen=True)
class PatternHit:
    """A hit to record as a ``SafetyEvent`` (``safety.services``). A *vary* hit also writes the varied payload."""

    kind: str
    outcome: str
    detail: str
    data: dict[str, Any]
    dedupe: timedelta | None  # not recorded again within this time (None: always)


def text_normalise(text: str) -> str:
    """Lowercase, accents folded, punctuation/emoji/spacing removed: "Thanks!! 😊" and "thanks" are the same."""
    folded = text_fold(text)
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def text_fingerprint(text: str) -> str:
    return hashlib.sha1(text_normalise(text).encode()).hexdigest()  # noqa: S324 (a fingerprint, not a secret)


def payload_text(payload: dict[str, Any]) -> str:
    """The text an action sends, whatever its payload's shape."""
    message = payload.get("message")
    if isinstance(message, str):
        return message
    if isinstance(message, dict) and isinstance(message.get("text"), str):
        return str(message["text"])
    text = payload.get("text")
    return text if isinstance(text, str) else ""


def payload_counterpart(payload: dict[str, Any]) -> str:
    """Who the action answers: the DM recipient or the commenter, if the payload says."""
    for key in ("recipient_id", "commenter_id", "from_id"):
        value = payload.get(key)
        if value:
            return str(value)
    return ""


def is_automated(action: Action) -> bool:
    return action.action_type not in NOT_CONTENT_TYPES and not (action.payload or {}).get("sent_by")


def _leaving(mine: Any, tally: Tally, *, used: int, limit: int, window: timedelta, now: datetime) -> datetime:
    """When the window frees a slot: the (used - limit + 1)-th oldest start of ``tally``'s rows leaves it."""
    starts = mine.filter(tally.condition()).order_by("started_at").values_list("started_at", flat=True)
    index = max(0, used - limit)
    leaving = starts[index] if limit else None
    return (leaving + window + timedelta(seconds=1)) if leaving else now + window


@dataclass(frozen=True)
class _Settings:
    repeat_max: int
    repeat: timedelta
    factor: float
    velocity: timedelta
    burst_max: int
    burst: timedelta

    @classmethod
    def of(cls, policy: SafetyPolicy) -> _Settings:
        setting = policy.setting
        return cls(
            repeat_max=setting("patterns.repeat_max"),
            repeat=timedelta(seconds=setting("patterns.repeat_window_seconds")),
            factor=setting("patterns.velocity_factor"),
            velocity=timedelta(seconds=setting("patterns.velocity_window_seconds")),
            burst_max=setting("patterns.user_burst_max"),
            burst=timedelta(seconds=setting("patterns.user_burst_window_seconds")),
        )


def _checks(action: Action, now: datetime, rules: _Settings) -> dict[str, Tally]:
    """The ledger rows each pattern counts, by name (none for what is not automation)."""
    if not is_automated(action):
        return {}
    checks: dict[str, Tally] = {}
    if rules.repeat_max and rules.repeat and action.text_fingerprint:
        checks["repeat"] = Tally(since=now - rules.repeat, fingerprint=action.text_fingerprint)
    if rules.factor and rules.velocity:
        checks["recent"] = Tally(since=now - rules.velocity, content_only=True)
        checks["day"] = Tally(since=now - DAY, content_only=True)
    if rules.burst_max and rules.burst and action.counterpart_id:
        checks["to_user"] = Tally(since=now - rules.burst, counterpart=action.counterpart_id, content_only=True)
    return checks


def patterns_tallies(*, action: Action, now: datetime, policy: SafetyPolicy) -> tuple[dict[str, Tally], timedelta]:
    """What ``patterns_check`` counts, and over how long, for the gate's one read of the account's ledger."""
    rules = _Settings.of(policy)
    tallies = {f"pattern_{name}": tally for name, tally in _checks(action, now, rules).items()}
    return tallies, max(DAY, rules.repeat, rules.velocity, rules.burst)


def patterns_check(
    *,
    action: Action,
    account: InstagramAccount,
    now: datetime,
    policy: SafetyPolicy,
    counts: dict[str, Any],
) -> tuple[Decision | None, list[PatternHit]]:
    """Vary, defer or pass ``action``, with the hits to flag for the risk score. No query when nothing hits.

    ``counts`` holds ``patterns_tallies`` as the gate read them. Returns a
    deferral, an allow whose reason tells that the text was varied (the gate
    still takes the shared counters), or None; and the hits, which the gate's
    caller records (``safety.services``): a varied text is changed on the
    action in memory here and written there.
    """
    rules = _Settings.of(policy)
    checks = _checks(action, now, rules)
    hits: list[PatternHit] = []
    if not checks:
        return None, hits
    repeat_max, repeat, factor, velocity = rules.repeat_max, rules.repeat, rules.factor, rules.velocity
    burst_max, burst = rules.burst_max, rules.burst
    mine = Action.all_workspaces.filter(account_id=account.pk, started_at__isnull=False).exclude(pk=action.pk)
    counts = {name: counts[f"pattern_{name}"] for name in checks}
    varied_note = None
    if counts.get("repeat", 0) >= repeat_max > 0:
        variation = _vary(action=action, mine=mine, now=now, repeat=repeat, repeat_max=repeat_max)
        if variation is not None:
            varied, hit = variation
            hits.append(hit)
            varied_note = (
                f"pattern: the same text was sent {counts['repeat']} times in {_span(repeat)}; "
                f"sent the variation “{varied[:80]}” instead"
            )
        else:
            used = counts["repeat"]
            until = _leaving(mine, checks["repeat"], used=used, limit=repeat_max, window=repeat, now=now)
            reason = (
                f"pattern: the same text was sent {used} times in the last {_span(repeat)} "
                f"(at most {repeat_max}) and the action offers no unused variation"
            )
            hits.append(_hit(SafetyEventKind.REPEATED_TEXT, SafetyEventOutcome.DEFER, reason, {"count": used}))
            return Decision.defer(until, reason), hits

    if "recent" in checks:
        recent, day = counts["recent"], counts["day"]
        windows_in_day = max(1.0, (DAY - velocity) / velocity)
        baseline = (day - recent) / windows_in_day
        threshold = max(policy.setting("patterns.velocity_min_actions"), int(factor * baseline))
        if threshold and recent >= threshold:
            until = _leaving(mine, checks["recent"], used=recent, limit=threshold, window=velocity, now=now)
            reason = (
                f"pattern: velocity spike, {recent} actions in the last {_span(velocity)} against a usual "
                f"{baseline:.1f} (at most {threshold}: {factor}× the account's own rate)"
            )
            data = {"recent": recent, "baseline": round(baseline, 2), "threshold": threshold}
            hits.append(_hit(SafetyEventKind.VELOCITY_SPIKE, SafetyEventOutcome.DEFER, reason, data))
            return Decision.defer(until, reason), hits

    if counts.get("to_user", 0) >= burst_max > 0:
        used = counts["to_user"]
        until = _leaving(mine, checks["to_user"], used=used, limit=burst_max, window=burst, now=now)
        reason = (
            f"pattern: {used} answers to the same person in the last {_span(burst)} (at most {burst_max}); "
            "the next waits"
        )
        hits.append(_hit(SafetyEventKind.USER_BURST, SafetyEventOutcome.DEFER, reason, {"count": used}))
        return Decision.defer(until, reason), hits
    # A varied text is allowed (so far): the allow's reason says what was changed.
    return (Decision.allow(varied_note) if varied_note else None), hits


def _vary(
    *, action: Action, mine: Any, now: datetime, repeat: timedelta, repeat_max: int
) -> tuple[str, PatternHit] | None:
    """Swap in the least used of the payload's variations still under the limit (on ``action``, in memory).

    Returns it, with the hit to record (which writes the varied payload), or None.
    """
    payload = dict(action.payload or {})
    variations = [text for text in payload.get("variations") or [] if isinstance(text, str) and text.strip()]
    if not variations:
        return None
    prints = {text: text_fingerprint(text) for text in variations}
    used = dict(
        mine.filter(text_fingerprint__in=set(prints.values()), started_at__gte=now - repeat)
        .values_list("text_fingerprint")
        .annotate(n=Count("pk"))
        .values_list("text_fingerprint", "n")
    )
    candidates = sorted(
        (used.get(fingerprint, 0), index, text)
        for index, (text, fingerprint) in enumerate(prints.items())
        if fingerprint != action.text_fingerprint and used.get(fingerprint, 0) < repeat_max
    )
    if not candidates:
        return None
    count, _, chosen = candidates[0]
    original = payload_text(payload)
    if isinstance(payload.get("message"), dict):
        payload["message"] = {**payload["message"], "text": chosen}
    elif "message" in payload:
        payload["message"] = chosen
    else:
        payload["text"] = chosen
    payload.setdefault("original_message", original)
    payload["varied"] = True
    action.payload = payload
    action.text_fingerprint = prints[chosen]
    reason = (
        f"pattern: the same text reached its limit of {repeat_max} in {_span(repeat)}; "
        f"sent a variation used {count} times instead"
    )
    data = {"original": original[:200], "variation": chosen[:200]}
    return chosen, _hit(SafetyEventKind.REPEATED_TEXT, SafetyEventOutcome.VARY, reason, data, always=True)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _hit(kind: str, outcome: str, detail: str, data: dict[str, Any], *, always: bool = False) -> PatternHit:
    return PatternHit(kind=kind, outcome=outcome, detail=detail, data=data, dedupe=None if always else FLAG_EVERY)
