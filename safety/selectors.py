"""Reads of the safety engine: the effective policy of a scope, kill switches, the audit trail."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from django.conf import settings
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import InstagramAccount
from safety.guide import TimingFacts, WarmupToday
from safety.models import (
    AccountUsage,
    GlobalKillSwitch,
    SafetyChange,
    SafetyEvent,
    SafetyEventKind,
    SafetyOverride,
)
from safety.policies import POLICY_KEYS, SafetyPolicy, default_policy, policy_with_overrides
from safety.risk import risk_slowdown
from safety.timing import timing_policy
from warmup.clock import account_zone, warmup_day_of
from warmup.gate import day_target
from warmup.phases import ALL, CAPABILITY_LABELS, warmup_policy


@dataclass(frozen=True)
class AccountSafety:
    """What the gate needs to know about an account's scopes, read in two queries."""

    policy: SafetyPolicy
    stopped: str | None  # why sending is stopped (a kill switch), or None


# The dispatcher asks for the same workspaces' settings hundreds of times a second: it keeps each
# workspace's (its row and its accounts' rows, read together) for SAFETY_SETTINGS_CACHE_SECONDS
# (1 s by default), so a kill switch or an override changed in another process takes effect within
# that time; in this process at once (the services clear the cache when they write).
@dataclass(frozen=True)
class _ScopeSafety:
    global_reason: str | None  # the platform's kill switch is on (its reason), or None
    workspace: tuple[dict[str, int], str | None]  # the workspace's overrides and why it is stopped
    accounts: dict[int, tuple[dict[str, int], str | None]]  # the same per account that has a row
    composed: dict[int, AccountSafety] = field(default_factory=dict)  # each account's, once worked out


_cache: dict[int, tuple[float, _ScopeSafety]] = {}
_cache_lock = threading.Lock()


def account_usage(*, account: InstagramAccount, read: bool = True) -> AccountUsage | None:
    """The account's usage row: the one loaded with it (``select_related("account__usage")``) when there is one.

    Otherwise it is read, or, with ``read=False``, None without a query (the row may not exist either way).
    """
    relation = InstagramAccount.usage.related
    if relation.is_cached(account):
        return cast("AccountUsage | None", relation.get_cached_value(account))
    return AccountUsage.objects.filter(account_id=account.pk).first() if read else None


def account_safety_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def account_safety(*, workspace_id: int, account_id: int, base: SafetyPolicy | None = None) -> AccountSafety:
    """The effective policy of an account (defaults ← workspace ← account) and whether a kill switch is on.

    Cross-tenant by nature (the dispatcher serves every workspace): reads with ``all_workspaces``.
    Read at most every ``SAFETY_SETTINGS_CACHE_SECONDS`` per workspace (see above).
    """
    ttl = float(getattr(settings, "SAFETY_SETTINGS_CACHE_SECONDS", 0))
    if base is not None or ttl <= 0:
        return _account_safety(_scope_safety_read(workspace_id=workspace_id), account_id, base)
    now = time.monotonic()
    cached = _cache.get(workspace_id)
    if cached is None or cached[0] <= now:
        cached = (now + ttl, _scope_safety_read(workspace_id=workspace_id))
        with _cache_lock:
            _cache[workspace_id] = cached
    scope = cached[1]
    if account_id not in scope.composed:
        scope.composed[account_id] = _account_safety(scope, account_id, None)
    return scope.composed[account_id]


def accounts_safety(*, accounts: list[tuple[int, int]]) -> list[AccountSafety]:
    """``account_safety`` of several (workspace id, account id): each workspace read once, even without the cache."""
    if float(getattr(settings, "SAFETY_SETTINGS_CACHE_SECONDS", 0)) > 0:
        return [account_safety(workspace_id=workspace, account_id=account) for workspace, account in accounts]
    scopes = {workspace_id: _scope_safety_read(workspace_id=workspace_id) for workspace_id in {w for w, _ in accounts}}
    return [_account_safety(scopes[workspace_id], account_id, None) for workspace_id, account_id in accounts]


def _scope_safety_read(*, workspace_id: int) -> _ScopeSafety:
    """Two queries: the platform's kill switch, and every override row of the workspace."""
    switch = GlobalKillSwitch.objects.filter(pk=1, sending_stopped=True).values_list("stopped_reason", flat=True)
    global_reason = switch.first()
    workspace: tuple[dict[str, int], str | None] = ({}, None)
    accounts: dict[int, tuple[dict[str, int], str | None]] = {}
    rows = SafetyOverride.all_workspaces.filter(workspace_id=workspace_id).values_list(
        "account_id", "values", "sending_stopped", "stopped_reason"
    )
    for account_ref, values, sending_stopped, reason in rows:
        entry = (values or {}, reason if sending_stopped else None)
        if account_ref is None:
            workspace = entry
        else:
            accounts[account_ref] = entry
    return _ScopeSafety(global_reason, workspace, accounts)


def _account_safety(scope: _ScopeSafety, account_id: int, base: SafetyPolicy | None) -> AccountSafety:
    base = base or default_policy()
    if scope.global_reason is not None:
        return AccountSafety(base, _stopped("for the whole platform by an operator", scope.global_reason))
    workspace_values, workspace_stopped = scope.workspace
    account_values, account_stopped = scope.accounts.get(account_id, ({}, None))
    stopped = None
    if workspace_stopped is not None:
        stopped = _stopped("for this workspace", workspace_stopped)
    elif account_stopped is not None:
        stopped = _stopped("for this account", account_stopped)
    return AccountSafety(policy_with_overrides(base, workspace_values, account_values), stopped)


def _stopped(where: str, reason: str) -> str:
    return f"kill switch: sending is stopped {where}" + (f" ({reason})" if reason else "")


@dataclass(frozen=True)
class EffectiveValue:
    key: str
    label: str
    value: int | None
    source: str  # "policies file", "workspace" or "account"
    ceiling: int | None
    set_here: bool


def policy_effective(*, workspace_id: int, account_id: int | None = None) -> list[EffectiveValue]:
    """Every policy key of a scope: its value and where that value comes from."""
    base = default_policy().as_values()
    rows = {
        row.account_id: row
        for row in SafetyOverride.all_workspaces.filter(workspace_id=workspace_id).filter(
            Q(account__isnull=True) | Q(account_id=account_id)
        )
    }
    workspace_values = rows[None].values if None in rows else {}
    account_values = rows[account_id].values if account_id is not None and account_id in rows else {}
    here = account_values if account_id is not None else workspace_values
    result = []
    for entry in POLICY_KEYS.values():
        value, source = base.get(entry.key), "policies file"
        if entry.key in workspace_values:
            value, source = workspace_values[entry.key], "workspace"
        if entry.key in account_values:
            value, source = account_values[entry.key], "account"
        result.append(EffectiveValue(entry.key, entry.label, value, source, entry.ceiling, entry.key in here))
    return result


def safety_override_of(*, workspace_id: int, account_id: int | None = None) -> SafetyOverride | None:
    return SafetyOverride.all_workspaces.filter(workspace_id=workspace_id, account_id=account_id).first()


def safety_changes(*, account_id: int | None = None, limit: int = 50) -> QuerySet[SafetyChange]:
    """The audit trail of the workspace in scope (of one account, or of the workspace's own settings)."""
    return SafetyChange.objects.filter(account_id=account_id).select_related("actor")[:limit]


def global_kill_switch() -> GlobalKillSwitch:
    switch, _ = GlobalKillSwitch.objects.get_or_create(pk=1)
    return switch


@dataclass(frozen=True)
class AccountRiskView:
    """What the account's safety page shows about its risk: score, band, components, waits."""

    score: int
    band: str  # "normal", "slowed down", "crawling"
    band_note: str
    components: list[tuple[str, int, str]]  # (name, points, detail), largest first
    regain_at: datetime | None
    regain_reason: str
    backoff: list[tuple[str, int, datetime | None, str]]  # (action type, failures, until, last error)
    updated_at: datetime | None


COMPONENT_NAMES = {
    "rate_limits": "Rate limits",
    "policy_blocks": "Policy blocks (368)",
    "errors": "Errors",
    "usage": "Usage headers",
    "patterns": "Patterns",
}


def account_risk(*, workspace_id: int, account_id: int, now: datetime | None = None) -> AccountRiskView:
    """The account's risk score and what follows from it, as the gate sees it now."""
    now = now or timezone.now()
    usage = AccountUsage.objects.filter(account_id=account_id).first()
    policy = _account_safety(_scope_safety_read(workspace_id=workspace_id), account_id, None).policy  # not cached
    slowdown = risk_slowdown(usage=usage, policy=policy)
    components = sorted(
        (
            (COMPONENT_NAMES.get(name, name), int(part.get("points", 0)), str(part.get("detail", "")))
            for name, part in ((usage.risk_components or {}) if usage else {}).items()
        ),
        key=lambda row: -row[1],
    )
    backoff: list[tuple[str, int, datetime | None, str]] = []
    for action_type, entry in ((usage.backoff or {}) if usage else {}).items():
        until = parse_datetime(str(entry.get("until") or "")) if isinstance(entry, dict) else None
        if isinstance(entry, dict) and until is not None and until > now:
            backoff.append((action_type, int(entry.get("failures", 0)), until, str(entry.get("error", ""))))
    regain = usage.regain_at if usage and usage.regain_at and usage.regain_at > now else None
    return AccountRiskView(
        score=usage.risk_score if usage else 0,
        band=slowdown.band if slowdown else "normal",
        band_note=slowdown.note() if slowdown else "",
        components=components,
        regain_at=regain,
        regain_reason=usage.regain_reason if regain and usage else "",
        backoff=backoff,
        updated_at=usage.risk_updated_at if usage else None,
    )


def safety_events(*, account_id: int, limit: int = 30) -> QuerySet[SafetyEvent]:
    """The account's latest safety events (patterns, errors, backoff, suspensions), newest first."""
    return SafetyEvent.objects.filter(account_id=account_id)[:limit]


def suspension_evidence_annotations() -> dict[str, Subquery]:
    """For the review queue (cross-tenant: operators): annotations of an account queryset with its
    latest suspension event's id and summary (``evidence_id``, ``evidence_detail``), in the same query."""
    latest = SafetyEvent.all_workspaces.filter(account_id=OuterRef("pk"), kind=SafetyEventKind.SUSPENSION).order_by(
        "-at", "-id"
    )
    return {
        "evidence_id": Subquery(latest.values("pk")[:1]),
        "evidence_detail": Subquery(latest.values("detail")[:1]),
    }


def account_warmup_today(*, account: InstagramAccount, now: datetime | None = None) -> WarmupToday | None:
    """What the warm-up allows the account today (its day, phase, budget, hours), or None when not warming up."""
    if account.warmup_day is None:
        return None
    day = warmup_day_of(account)
    if day is None:
        return None
    policy = warmup_policy()
    phase = policy.phase_of(day)
    today = (now or timezone.now()).astimezone(account_zone(account)).date()
    if ALL in phase.enabled:
        enabled = "everything, publishing included"
    else:
        enabled = ", ".join(CAPABILITY_LABELS[name] for name in sorted(phase.enabled) if name in CAPABILITY_LABELS)
    return WarmupToday(
        day=day,
        phase=phase.name,
        budget=day_target(account_id=account.pk, day=day, on=today, policy=policy),
        hours=phase.hours_label,
        enabled=enabled or "reading only",
    )


def timing_facts() -> TimingFacts:
    """Human timing as configured: each kind of answer's typical, shortest and longest delay, and the typing lead."""
    timing = timing_policy()
    delays = {
        kind: (
            entry.median_seconds if entry.distribution == "lognormal" else (entry.min_seconds + entry.max_seconds) / 2,
            entry.min_seconds,
            entry.max_seconds,
        )
        for kind, entry in timing.reply_delays.items()
    }
    return TimingFacts(on=bool(settings.HUMAN_TIMING), typing_seconds=timing.typing_seconds, delays=delays)
