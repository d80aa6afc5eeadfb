"""Writes of the safety engine: what it learns from Instagram's answers, overrides and kill switches."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from safety.models import AccountUsage, GlobalKillSwitch, GlobalKillSwitchChange, SafetyChange, SafetyOverride
from safety.policies import PolicyValueError, Scope, default_policy, policy_value_validate, policy_values_check
from safety.risk import USAGE_FROM_PERCENT, risk_usage_apply
from safety.selectors import account_safety_cache_clear

if TYPE_CHECKING:
    from accounts.models import User

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


# A low reading over a low one stored less than this long ago is not written (only shown figures would change).
USAGE_LOW_REWRITE = timedelta(seconds=10)


def usage_observe(
    *, account_id: int, usage: dict[str, Any], now: datetime | None = None, known: AccountUsage | None = None
) -> None:
    """Record the usage headers of an answer for ``account_id``.

    Near 100 % of a budget, or when Meta gives a regain time, the account makes no call until then.
    ``known`` is the account's usage row as the caller last read it (the gate reads it for each
    action). When it held a low peak recorded a moment ago and the answer's peak is low too,
    nothing the gate or the risk score reads would change (usage counts for risk only above
    ``USAGE_FROM_PERCENT``), so no statement is run. Nor when the row, recorded a moment ago, holds
    a peak above that threshold and the answer's is no higher (and far from a stop): the stored
    figure keeps the account at least as slow. The figures shown lag by at most ``USAGE_LOW_REWRITE``.
    """
    now = now or timezone.now()
    peak = _peak_percent(usage)
    retry_after = usage.get("retry_after_seconds")
    if (
        not retry_after
        and peak < USAGE_STOP_PERCENT
        and known is not None
        and now - known.updated_at < USAGE_LOW_REWRITE
    ):
        low = peak <= USAGE_FROM_PERCENT
        # Low after low; or above the risk threshold but no higher than a moment ago, when the stored peak
        # (and the risk it gives) stays the safer figure until it is rewritten or the usage rises.
        if (low and known.peak_percent <= USAGE_FROM_PERCENT) or (not low and peak <= known.peak_percent):
            return
    if peak <= USAGE_FROM_PERCENT and not retry_after:
        # The common case, on every answer: low usage before and after, so neither the regain time
        # nor the risk score changes. One UPDATE instead of a read and a write.
        quiet = AccountUsage.objects.filter(account_id=account_id, peak_percent__lte=USAGE_FROM_PERCENT)
        if quiet.update(usage=usage, peak_percent=peak, updated_at=now):
            return
    record, _ = AccountUsage.objects.get_or_create(account_id=account_id)
    record.usage = usage
    record.peak_percent = min(peak, 32767)
    record.updated_at = now
    if isinstance(retry_after, int) and retry_after > 0:
        _stop_until(record, now + timedelta(seconds=retry_after), "Instagram's estimated time to regain access")
    elif peak >= USAGE_STOP_PERCENT:
        _stop_until(record, now + USAGE_STOP_DEFAULT, f"Instagram usage at {peak} %")
    risk_usage_apply(record)  # the usage part of the risk score follows the headers
    record.save()


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


class PolicyOverrideError(ValueError):
    """Overrides refused; ``errors`` maps each policy key to a message naming it and the limit."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _inherited(*, workspace_id: int, account_id: int | None) -> dict[str, int]:
    """The values a scope inherits: the file's, plus the workspace's for an account."""
    values = default_policy().as_values()
    if account_id is not None:
        workspace_row = SafetyOverride.all_workspaces.filter(workspace_id=workspace_id, account__isnull=True).first()
        values.update(workspace_row.values if workspace_row else {})
    return values


def _scope_row(*, workspace_id: int, account_id: int | None) -> SafetyOverride:
    """The scope's override row, locked (created empty if missing)."""
    rows = SafetyOverride.all_workspaces.select_for_update()
    row = rows.filter(workspace_id=workspace_id, account_id=account_id).first()
    if row is None:
        try:
            with transaction.atomic():
                row = SafetyOverride.all_workspaces.create(workspace_id=workspace_id, account_id=account_id)
        except IntegrityError:  # created meanwhile by someone else
            row = rows.get(workspace_id=workspace_id, account_id=account_id)
    return row


def policy_override_set(
    *, workspace_id: int, account_id: int | None = None, values: dict[str, int | None], actor: User | None
) -> SafetyOverride:
    """Set a workspace's (or an account's) overrides of the safety policy. Audited, validated, all or nothing.

    ``values`` maps policy keys to a whole number, or to None to inherit again.
    A value equal to the inherited one is not stored: the row keeps only the
    keys that differ. Raises ``PolicyOverrideError`` naming every refused key
    and its limit (Meta's ceilings cannot be exceeded).
    """
    scope = Scope.ACCOUNT if account_id is not None else Scope.WORKSPACE
    errors: dict[str, str] = {}
    cleaned: dict[str, int | None] = {}
    for key, value in values.items():
        if value is None:
            cleaned[key] = None
            continue
        try:
            cleaned[key] = policy_value_validate(key, value, scope=scope)
        except PolicyValueError as exc:
            errors[key] = str(exc)
    if errors:
        raise PolicyOverrideError(errors)
    with transaction.atomic():
        row = _scope_row(workspace_id=workspace_id, account_id=account_id)
        inherited = _inherited(workspace_id=workspace_id, account_id=account_id)
        new_values = dict(row.values)
        for key, value in cleaned.items():
            if value is None or value == inherited.get(key):
                new_values.pop(key, None)
            else:
                new_values[key] = value
        try:
            policy_values_check({**inherited, **new_values})
        except PolicyValueError as exc:
            raise PolicyOverrideError({exc.key: str(exc)}) from exc
        now = timezone.now()
        for key in sorted(set(row.values) | set(new_values)):
            old, new = row.values.get(key), new_values.get(key)
            if old != new:
                SafetyChange.all_workspaces.create(
                    workspace_id=workspace_id,
                    account_id=account_id,
                    at=now,
                    actor=actor,
                    setting=key,
                    old_value="" if old is None else str(old),
                    new_value="" if new is None else str(new),
                )
        row.values = new_values
        row.updated_at = now
        row.save(update_fields=["values", "updated_at"])
    account_safety_cache_clear()
    return row


def kill_switch_set(
    *, workspace_id: int, account_id: int | None = None, stopped: bool, reason: str = "", actor: User | None
) -> SafetyOverride:
    """Stop (or resume) sending for a workspace or one account. Work is still planned and waits. Audited."""
    with transaction.atomic():
        row = _scope_row(workspace_id=workspace_id, account_id=account_id)
        if row.sending_stopped != stopped or (stopped and row.stopped_reason != reason):
            SafetyChange.all_workspaces.create(
                workspace_id=workspace_id,
                account_id=account_id,
                actor=actor,
                setting="kill switch",
                old_value=_switch_label(row.sending_stopped, row.stopped_reason),
                new_value=_switch_label(stopped, reason),
            )
        row.sending_stopped = stopped
        row.stopped_reason = reason[:300] if stopped else ""
        row.updated_at = timezone.now()
        row.save(update_fields=["sending_stopped", "stopped_reason", "updated_at"])
    account_safety_cache_clear()
    return row


def global_kill_switch_set(*, stopped: bool, reason: str = "", actor: User | None) -> GlobalKillSwitch:
    """The operators' switch: stop (or resume) every send on the platform. Audited."""
    with transaction.atomic():
        GlobalKillSwitch.objects.get_or_create(pk=1)
        switch = GlobalKillSwitch.objects.select_for_update().get(pk=1)
        if switch.sending_stopped != stopped or (stopped and switch.stopped_reason != reason):
            GlobalKillSwitchChange.objects.create(actor=actor, sending_stopped=stopped, reason=reason[:300])
        switch.sending_stopped = stopped
        switch.stopped_reason = reason[:300] if stopped else ""
        switch.changed_at = timezone.now()
        switch.changed_by = actor
        switch.save()
    account_safety_cache_clear()
    return switch


def _switch_label(stopped: bool, reason: str) -> str:
    return (f"sending stopped: {reason}" if reason else "sending stopped")[:300] if stopped else "sending"
