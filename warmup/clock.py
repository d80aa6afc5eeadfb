"""Local time of an account: its date, its midnights and its hours, in its own IANA time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accounts.lifecycle import HOLDING_STATES
from accounts.models import InstagramAccount

UTC = ZoneInfo("UTC")


def account_zone(account: InstagramAccount) -> ZoneInfo:
    """The account's time zone; an unknown name (never saved by the forms) counts as UTC."""
    try:
        return ZoneInfo(account.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_date(zone: ZoneInfo, at: datetime) -> date:
    return at.astimezone(zone).date()


def local_time(zone: ZoneInfo, on: date, hour: int) -> datetime:
    """``hour`` o'clock on the local date ``on`` (24 is the next midnight), as an aware datetime."""
    if hour >= 24:
        return datetime.combine(on + timedelta(days=1), time.min, tzinfo=zone)
    return datetime.combine(on, time(hour), tzinfo=zone)


def local_midnight(zone: ZoneInfo, on: date) -> datetime:
    return local_time(zone, on, 0)


def warmup_day_of(account: InstagramAccount) -> int | None:
    """The warm-up day the account is on, or returns to after a pause or review; None when not warming up."""
    if account.warmup_day is not None:
        return account.warmup_day
    if account.state in HOLDING_STATES and account.resume_state.startswith("WARMUP_DAY_"):
        return int(account.resume_state.rsplit("_", 1)[1])
    return None
