"""Warm-up awareness: may the account publish yet, and is a time inside its active hours?

Read from ``config/policies.yaml`` (``warmup.phases``): publishing is enabled
by a phase whose ``enabled`` list holds ``all`` or ``publish`` (day 7,
"full"); an ACTIVE account may always publish. ``active_hours`` is ``[from,
to]`` (hours of the account's own day), ``waking`` or ``full``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from django.conf import settings

from accounts.models import AccountState, InstagramAccount

# "Waking hours" in the architecture's table: 07:00–23:00 of the account's day.
WAKING_HOURS = (7, 23)
FULL_DAY = (0, 24)


@dataclass(frozen=True)
class Phase:
    name: str
    days: tuple[int, ...]
    publishing: bool
    hours: tuple[int, int]


def _hours(value: Any) -> tuple[int, int]:
    if value == "waking":
        return WAKING_HOURS
    if isinstance(value, list | tuple) and len(value) == 2:
        return int(value[0]), int(value[1])
    return FULL_DAY


@lru_cache(maxsize=2)
def _phases(path: str) -> tuple[Phase, ...]:
    document = yaml.safe_load(Path(path).read_text()) or {}
    phases = []
    for raw in (document.get("warmup") or {}).get("phases") or []:
        enabled = set(raw.get("enabled") or [])
        phases.append(
            Phase(
                name=str(raw.get("name", "")),
                days=tuple(int(day) for day in raw.get("days") or []),
                publishing=bool(enabled & {"all", "publish"}),
                hours=_hours(raw.get("active_hours")),
            )
        )
    return tuple(phases)


def account_phase(account: InstagramAccount) -> Phase | None:
    """The warm-up phase of an account on a warm-up day; None for any other state."""
    day = account.warmup_day
    if day is None:
        return None
    for phase in _phases(str(settings.POLICIES_FILE)):
        if day in phase.days:
            return phase
    return None


def publishing_blocked_reason(account: InstagramAccount) -> str:
    """Empty when the account may publish now; otherwise why not."""
    if account.state == AccountState.ACTIVE:
        return ""
    phase = account_phase(account)
    if phase is None:
        return f"the account is {account.get_state_display().lower()}; it cannot publish"
    if not phase.publishing:
        return (
            f"warm-up day {account.warmup_day} ({phase.name} phase) does not enable publishing; "
            "publishing starts on day 7"
        )
    return ""


def active_hours(account: InstagramAccount) -> tuple[int, int]:
    phase = account_phase(account)
    return phase.hours if phase is not None else FULL_DAY


def local_time(account: InstagramAccount, moment: datetime) -> datetime:
    try:
        zone = ZoneInfo(account.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone)


def outside_active_hours(account: InstagramAccount, moment: datetime) -> str:
    """Empty when ``moment`` falls in the account's active hours; otherwise a flag to show."""
    start, end = active_hours(account)
    if (start, end) == FULL_DAY:
        return ""
    local = local_time(account, moment)
    if start <= local.hour < end:
        return ""
    return f"outside the account's active hours ({start:02d}:00–{end:02d}:00 {account.time_zone})"
