"""Warm-up awareness: may the account publish yet, and is a time inside its active hours?

The phase table is ``warmup.phases`` (``config/policies.yaml``): publishing
needs the ``all`` capability (day 7, "full"); an ACTIVE account may always
publish. The gate enforces the same rule (``warmup.gate``); this module lets
the pages and the pipeline say so before anything is planned.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from accounts.models import AccountState, InstagramAccount
from warmup.phases import Phase, capability_of, warmup_policy

FULL_DAY = (0, 24)


def account_phase(account: InstagramAccount) -> Phase | None:
    """The warm-up phase of an account on a warm-up day; None for any other state."""
    day = account.warmup_day
    return None if day is None else warmup_policy().phase_of(day)


def publishing_blocked_reason(account: InstagramAccount) -> str:
    """Empty when the account may publish now; otherwise why not."""
    if account.state == AccountState.ACTIVE:
        return ""
    phase = account_phase(account)
    if phase is None:
        return f"the account is {account.get_state_display().lower()}; it cannot publish"
    if not phase.enables(capability_of("publish")):
        first = warmup_policy().first_day_enabling(capability_of("publish"), after=account.warmup_day or 0)
        return (
            f"warm-up day {account.warmup_day} ({phase.name} phase) does not enable publishing; "
            f"publishing starts on day {first or 7}"
        )
    return ""


def active_hours(account: InstagramAccount) -> tuple[int, int]:
    phase = account_phase(account)
    return (phase.start_hour, phase.end_hour) if phase is not None else FULL_DAY


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
