"""Writes of the safety engine: what it learns from Instagram's answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from safety.models import AccountUsage

# Above this share of a usage budget, the account waits (Meta throttles at 100 %).
USAGE_STOP_PERCENT = 95
# How long to wait when usage is near the limit and Meta gave no regain time.
USAGE_STOP_DEFAULT = timedelta(minutes=15)
PERCENT_KEYS = ("call_count", "total_cputime", "total_time", "acc_id_util_pct")


def _peak_percent(usage: dict[str, Any]) -> int:
    peaks = [0]
    app = usage.get("app")
    if isinstance(app, dict):
        peaks += [int(app.get(key, 0) or 0) for key in PERCENT_KEYS]
    business = usage.get("business_use_case")
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    peaks += [int(entry.get(key, 0) or 0) for key in PERCENT_KEYS]
    return max(peaks)


def usage_observe(*, account_id: int, usage: dict[str, Any], now: datetime | None = None) -> AccountUsage:
    """Record the usage headers of an answer for ``account_id``.

    Near 100 % of a budget, or when Meta gives a regain time, the account makes no call until then.
    """
    now = now or timezone.now()
    peak = _peak_percent(usage)
    record, _ = AccountUsage.objects.get_or_create(account_id=account_id)
    record.usage = usage
    record.peak_percent = min(peak, 32767)
    record.updated_at = now
    retry_after = usage.get("retry_after_seconds")
    if isinstance(retry_after, int) and retry_after > 0:
        _stop_until(record, now + timedelta(seconds=retry_after), "Instagram's estimated time to regain access")
    elif peak >= USAGE_STOP_PERCENT:
        _stop_until(record, now + USAGE_STOP_DEFAULT, f"Instagram usage at {peak} %")
    record.save()
    return record


def rate_limit_observe(
    *, account_id: int, code: int | None, retry_after_seconds: int | None, now: datetime | None = None
) -> None:
    """A rate-limit answer: no call for the account until the regain time (at least the default pause)."""
    now = now or timezone.now()
    record, _ = AccountUsage.objects.get_or_create(account_id=account_id)
    wait = timedelta(seconds=retry_after_seconds) if retry_after_seconds else USAGE_STOP_DEFAULT
    _stop_until(record, now + wait, f"rate limited by Instagram (code {code})")
    record.updated_at = now
    record.save()


def _stop_until(record: AccountUsage, until: datetime, reason: str) -> None:
    if record.regain_at is None or until > record.regain_at:
        record.regain_at = until
        record.regain_reason = reason
