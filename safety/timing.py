"""Human timing: reply delays drawn from distributions, typing indicators, active hours.

An automated answer that went out the instant a comment or message arrived
would look like what it is. When ``action_plan`` plans an automated answer
without a due time, ``reply_delay_draw`` gives it a delay drawn from the
distribution policies.yaml sets for its action type (``timing.reply_delays``:
``lognormal`` with a median and sigma, or ``uniform``, both clipped to
``min_seconds``…``max_seconds``). ``HUMAN_TIMING=false`` (tests, benchmarks)
makes every delay zero. A person's reply from the inbox (``sent_by`` in the
payload) is never delayed.

Typing indicator: for an automated DM, ``action_plan`` also plans a
``sender_action`` (``typing_on``) ``timing.typing_seconds`` before the DM, as its
own ledger action. Chosen over sending it from the DM's executor because the
executor would have to sleep between the two calls (holding a sender thread),
and because as a ledger action it is gated (kill switches, regain times, Meta's
Send API ceiling), shown and reconciled like everything else; the gate does not
count it against the account's action limits (it is not content).

Active hours: a proactive action (payload ``"proactive": true`` — not an
answer to someone) runs only between ``active_hours.start_hour`` and
``end_hour`` of the account's own timezone; outside them the gate defers it to
the next start. Answers to inbound comments and messages are not proactive.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from safety.policies import SafetyPolicy

DISTRIBUTIONS = ("lognormal", "uniform")
MAX_DELAY_SECONDS = 3600


@dataclass(frozen=True)
class DelayDistribution:
    distribution: str
    min_seconds: float
    max_seconds: float
    median_seconds: float = 0.0
    sigma: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.distribution == "uniform":
            value = rng.uniform(self.min_seconds, self.max_seconds)
        else:
            value = rng.lognormvariate(math.log(self.median_seconds), self.sigma)
        return min(self.max_seconds, max(self.min_seconds, value))


@dataclass(frozen=True)
class Timing:
    typing_seconds: float
    reply_delays: dict[str, DelayDistribution]


def _number(section: str, entry: dict[str, Any], name: str, *, required: bool = True) -> float:
    value = entry.get(name)
    if value is None and not required:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ImproperlyConfigured(f"{section}.{name} must be a number ≥ 0, not {value!r} (in the policies file).")
    if value > MAX_DELAY_SECONDS:
        raise ImproperlyConfigured(f"{section}.{name} cannot be above {MAX_DELAY_SECONDS} s (in the policies file).")
    return float(value)


def timing_parse(document: dict[str, Any]) -> Timing:
    """The ``timing`` section of a policies document, validated; errors name the ``timing.…`` key."""
    section = document.get("timing") or {}
    if not isinstance(section, dict):
        raise ImproperlyConfigured("timing must be a mapping (in the policies file).")
    typing = _number("timing", section, "typing_seconds", required=False)
    delays: dict[str, DelayDistribution] = {}
    for action_type, entry in (section.get("reply_delays") or {}).items():
        where = f"timing.reply_delays.{action_type}"
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where} must be a mapping (in the policies file).")
        kind = entry.get("distribution")
        if kind not in DISTRIBUTIONS:
            raise ImproperlyConfigured(
                f"{where}.distribution must be one of {', '.join(DISTRIBUTIONS)}, not {kind!r} (in the policies file)."
            )
        low, high = _number(where, entry, "min_seconds"), _number(where, entry, "max_seconds")
        if low > high:
            raise ImproperlyConfigured(f"{where}.min_seconds is above max_seconds (in the policies file).")
        median = sigma = 0.0
        if kind == "lognormal":
            median, sigma = _number(where, entry, "median_seconds"), _number(where, entry, "sigma")
            if median <= 0:
                raise ImproperlyConfigured(f"{where}.median_seconds must be above 0 (in the policies file).")
        delays[action_type] = DelayDistribution(kind, low, high, median, sigma)
    return Timing(typing, delays)


@lru_cache(maxsize=2)
def _load(path: str) -> Timing:
    document = yaml.safe_load(Path(path).read_text())
    return timing_parse(document if isinstance(document, dict) else {})


def timing_policy() -> Timing:
    return _load(str(settings.POLICIES_FILE))


_rng = random.Random()


def reply_delay_draw(*, action_type: str, payload: dict[str, Any], rng: random.Random | None = None) -> timedelta:
    """How long an automated answer of ``action_type`` waits after the event it answers. Zero when
    ``HUMAN_TIMING`` is off, for a person's reply, or for a type without a distribution."""
    if not settings.HUMAN_TIMING or payload.get("sent_by"):
        return timedelta(0)
    distribution = timing_policy().reply_delays.get(action_type)
    if distribution is None:
        return timedelta(0)
    return timedelta(seconds=distribution.draw(rng or _rng))


def typing_lead() -> timedelta:
    """How long before an automated DM its typing indicator goes out (zero: none)."""
    if not settings.HUMAN_TIMING:
        return timedelta(0)
    return timedelta(seconds=timing_policy().typing_seconds)


def account_zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def active_hours_next_start(*, now: datetime, time_zone: str, policy: SafetyPolicy) -> datetime | None:
    """None when ``now`` is inside the account's active hours; otherwise when they next begin."""
    start = policy.setting("active_hours.start_hour", 0)
    end = policy.setting("active_hours.end_hour", 24)
    if start == 0 and end >= 24:
        return None
    local = now.astimezone(account_zone(time_zone))
    if start <= local.hour < end:
        return None
    day = local.date() if local.hour < start else local.date() + timedelta(days=1)
    opening = datetime(day.year, day.month, day.day, start, tzinfo=local.tzinfo)
    return opening


def is_proactive(*, payload: dict[str, Any]) -> bool:
    """Proactive: not an answer to someone (the planner says so in the payload)."""
    return payload.get("proactive") is True
