"""The risk assessor: a per-account score from 0 to 100, its components, and what it does.

The score is the sum of explainable components over the last 24 hours, each
with its points and its evidence (``risk_components_compute``):

- ``rate_limits``: each rate-limit answer from Instagram (codes 4, 17, 32, 613,
  80002), ``RATE_LIMIT_POINTS`` each;
- ``policy_blocks``: a 368 answer, ``POLICY_BLOCK_POINTS`` (the account is
  suspended anyway);
- ``errors``: other errors, by code, ``ERROR_POINTS`` each (at most ``ERRORS_MAX``);
- ``usage``: Meta's usage headers (app / business use case %), from 50 %:
  ``(peak - 50) * USAGE_POINTS_PER_PERCENT``;
- ``patterns``: the pattern detector's hits (``safety.patterns``).

It is stored on ``AccountUsage`` (which the gate reads anyway) whenever an
event is recorded, and its usage part whenever usage headers arrive. Rising
risk slows the account down automatically: from ``risk.slow_from_score`` the
gate scales the account's limits to ``risk.slow_limit_percent`` and spaces its
actions ``risk.slow_spacing_seconds`` apart, from ``risk.crawl_from_score``
more so; the deferral's reason names the score and its components.

A policy block (368), or ``risk.suspend_after_rate_limits`` rate-limit answers
within ``risk.rate_limit_window_seconds``, suspends the account (``SUSPENDED``,
through the accounts lifecycle) for an operator's review, with the evidence
(the error, the action, the risk components) recorded as a ``SafetyEvent``
that the review queue and the account's safety page show.

This module computes and reads. The writes (events, the stored score, the
suspension: what the engine learns from an outcome) are ``safety.services``'
(``action_outcome_observe``, ``safety_event_record``, ``risk_refresh``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max

from accounts.models import InstagramAccount
from actions.models import NOT_CONTENT_TYPES, Action
from safety.decision import Decision
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind, SafetyEventOutcome
from safety.policies import SafetyPolicy

WINDOW = timedelta(hours=24)
RATE_LIMIT_POINTS = 25
POLICY_BLOCK_POINTS = 100
ERROR_POINTS = 4
ERRORS_MAX = 30
USAGE_FROM_PERCENT = 50
USAGE_POINTS_PER_PERCENT = 0.8
PATTERN_POINTS: dict[str, int] = {SafetyEventOutcome.DEFER: 5, SafetyEventOutcome.VARY: 2, SafetyEventOutcome.FLAG: 5}
PATTERNS_MAX = 25
PATTERN_KINDS = (SafetyEventKind.REPEATED_TEXT, SafetyEventKind.VELOCITY_SPIKE, SafetyEventKind.USER_BURST)


def _component(points: float, detail: str) -> dict[str, Any]:
    return {"points": round(points), "detail": detail}


def _usage_component(peak_percent: int) -> dict[str, Any]:
    points = max(0, peak_percent - USAGE_FROM_PERCENT) * USAGE_POINTS_PER_PERCENT
    return _component(points, f"Instagram usage at {peak_percent} % of its budget")


def risk_components_compute(*, account_id: int, now: datetime, peak_percent: int) -> dict[str, dict[str, Any]]:
    """Each component of the score: ``{"rate_limits": {"points": 25, "detail": "1 rate limit …"}, …}``."""
    recent = SafetyEvent.all_workspaces.filter(account_id=account_id, at__gte=now - WINDOW)
    by_kind: dict[tuple[str, str, int | None], int] = {
        (kind, outcome, code): count
        for kind, outcome, code, count in recent.values_list("kind", "outcome", "code")
        .annotate(n=Count("pk"))
        .values_list("kind", "outcome", "code", "n")
    }
    components: dict[str, dict[str, Any]] = {}
    rate_limits = {code: n for (kind, _, code), n in by_kind.items() if kind == SafetyEventKind.RATE_LIMIT}
    if rate_limits:
        total = sum(rate_limits.values())
        codes = ", ".join(f"code {code}: {n}" for code, n in sorted(rate_limits.items(), key=lambda item: str(item[0])))
        components["rate_limits"] = _component(
            total * RATE_LIMIT_POINTS, f"{total} rate limit{'s' if total > 1 else ''} in 24 h ({codes})"
        )
    blocks = sum(n for (kind, _, _), n in by_kind.items() if kind == SafetyEventKind.POLICY_BLOCK)
    if blocks:
        components["policy_blocks"] = _component(POLICY_BLOCK_POINTS, f"{blocks} policy block(s) (368) in 24 h")
    errors: dict[int | None, int] = {}
    for (kind, _, code), n in by_kind.items():
        if kind == SafetyEventKind.ERROR:
            errors[code] = errors.get(code, 0) + n
    if errors:
        total = sum(errors.values())
        codes = ", ".join(
            f"{'code ' + str(code) if code is not None else 'no answer'}: {n}"
            for code, n in sorted(errors.items(), key=lambda item: str(item[0]))
        )
        components["errors"] = _component(min(ERRORS_MAX, total * ERROR_POINTS), f"{total} errors in 24 h ({codes})")
    if peak_percent > USAGE_FROM_PERCENT:
        components["usage"] = _usage_component(peak_percent)
    patterns = [(outcome, n) for (kind, outcome, _), n in by_kind.items() if kind in PATTERN_KINDS]
    if patterns:
        points = min(PATTERNS_MAX, sum(PATTERN_POINTS.get(outcome, 5) * n for outcome, n in patterns))
        hits = sum(n for _, n in patterns)
        components["patterns"] = _component(points, f"{hits} pattern hit{'s' if hits > 1 else ''} in 24 h")
    return components


def risk_total(components: dict[str, dict[str, Any]]) -> int:
    return min(100, sum(int(part["points"]) for part in components.values()))


def risk_as_of(*, account_id: int, at: datetime) -> AccountUsage:
    """The account's score from the 24 hours before ``at``, computed and not stored (e.g. for a past midnight)."""
    peak = AccountUsage.objects.filter(account_id=account_id).values_list("peak_percent", flat=True).first() or 0
    components = risk_components_compute(account_id=account_id, now=at, peak_percent=peak)
    return AccountUsage(
        account_id=account_id, peak_percent=peak, risk_score=risk_total(components), risk_components=components
    )


# A score is recomputed when events come in; without new events its old ones still leave the
# 24-hour window, so the dispatcher's housekeeping recomputes scores older than this.
STALE_AFTER = timedelta(minutes=5)


def risk_usage_apply(record: AccountUsage) -> None:
    """Fold fresh usage headers into the stored components (no query; the caller saves ``record``)."""
    components = {key: value for key, value in (record.risk_components or {}).items() if key != "usage"}
    if record.peak_percent > USAGE_FROM_PERCENT:
        components["usage"] = _usage_component(record.peak_percent)
    record.risk_components = components
    record.risk_score = risk_total(components)


def risk_explain(components: dict[str, dict[str, Any]]) -> str:
    parts = sorted(components.items(), key=lambda item: -int(item[1]["points"]))
    return ", ".join(f"{part['detail']} +{part['points']}" for _, part in parts if part["points"]) or "no risk signals"


# --- Slowing down ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Slowdown:
    band: str  # "slowed down" or "crawling"
    score: int
    limit_percent: int
    spacing_seconds: int
    why: str

    def note(self) -> str:
        return f"{self.band} by risk {self.score}/100 ({self.why}): limits at {self.limit_percent} %" + (
            f", {self.spacing_seconds} s between actions" if self.spacing_seconds else ""
        )


def risk_slowdown(*, usage: AccountUsage | None, policy: SafetyPolicy) -> Slowdown | None:
    """The band the account's score puts it in, or None when it runs at full speed."""
    if usage is None or not usage.risk_score:
        return None
    for band, prefix in (("crawling", "risk.crawl"), ("slowed down", "risk.slow")):
        start = policy.setting(f"{prefix}_from_score")
        if start and usage.risk_score >= start:
            return Slowdown(
                band,
                usage.risk_score,
                policy.setting(f"{prefix}_limit_percent", 100),
                policy.setting(f"{prefix}_spacing_seconds"),
                risk_explain(usage.risk_components or {}),
            )
    return None


def _scaled(value: int, percent: int) -> int:
    return max(1, math.floor(value * percent / 100)) if value else value


def policy_slowed(policy: SafetyPolicy, slowdown: Slowdown) -> SafetyPolicy:
    """The per-account limits scaled down to the band's share (never below one action)."""
    percent = slowdown.limit_percent
    if percent >= 100:
        return policy
    return replace(
        policy,
        account_per_hour=_scaled(policy.account_per_hour, percent),
        account_per_day=_scaled(policy.account_per_day, percent),
        hourly_limits={key: _scaled(value, percent) for key, value in policy.hourly_limits.items()},
        daily_limits={key: _scaled(value, percent) for key, value in policy.daily_limits.items()},
        burst_max=_scaled(policy.burst_max, percent),
    )


def risk_spacing_check(
    *, action: Action, account: InstagramAccount, now: datetime, slowdown: Slowdown
) -> Decision | None:
    """While slowed down: at least the band's spacing between two actions of the account."""
    if not slowdown.spacing_seconds:
        return None
    spacing = timedelta(seconds=slowdown.spacing_seconds)
    last = (
        Action.all_workspaces.filter(account_id=account.pk, started_at__gte=now - spacing)
        .exclude(pk=action.pk)
        .exclude(action_type__in=NOT_CONTENT_TYPES)
        .aggregate(last=Max("started_at"))["last"]
    )
    if last is None:
        return None
    return Decision.defer(last + spacing, slowdown.note())
