"""Writes of the safety engine: every one of them lives here.

The modules that check and read (``safety.gate``, ``safety.risk``,
``safety.cooldowns``, ``safety.patterns``, ``safety.selectors``,
``safety.ledger``) write nothing and import nothing from here. What writes:

- ``gate_evaluate_many`` (and ``gate_evaluate``): the gate's decisions
  (``safety.gate.gate_assess_many``), with what an allow takes (the shared
  counter slots) and the pattern detector's hits (events, a varied text);
- ``action_outcome_observe``: the one call the dispatcher makes per outcome of
  a sent action — what the engine learns from Instagram's answer (events, risk
  score, backoff, regain time after a rate limit, suspension with evidence);
- ``usage_observe``: the usage headers of every answer (the Graph client);
- ``safety_housekeep``: the dispatcher's housekeeping (old counter rows and risk samples, risk
  scores whose events left the 24-hour window);
- overrides of the policy and kill switches, audited (members, operators).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Model
from django.utils import timezone

from accounts.models import InstagramAccount, User
from accounts.services import ForbiddenTransition, account_suspend
from actions.models import Action, ActionState, Verdict
from instaforge.redaction import secrets_redact, value_redact
from instagram.errors import (
    NotSentError,
    OutsideMessagingWindowError,
    PolicyBlockedError,
    RateLimitedError,
    TokenInvalidError,
)
from observability.metrics import GATE_DECISIONS
from safety.cooldowns import BACKOFF_PENDING
from safety.counters import CounterSlot
from safety.decision import Decision
from safety.gate import gate_allow_slots, gate_assess_many
from safety.models import (
    AccountUsage,
    GlobalKillSwitch,
    GlobalKillSwitchChange,
    RiskScoreSample,
    SafetyChange,
    SafetyCounter,
    SafetyEvent,
    SafetyEventKind,
    SafetyEventOutcome,
    SafetyOverride,
)
from safety.patterns import PatternHit
from safety.policies import (
    PolicyValueError,
    SafetyPolicy,
    Scope,
    default_policy,
    plural_label,
    policy_value_validate,
    policy_values_check,
)
from safety.risk import STALE_AFTER, USAGE_FROM_PERCENT, risk_components_compute, risk_total, risk_usage_apply
from safety.selectors import account_safety, account_safety_cache_clear


# --- The gate: decisions, the shared slots an allow takes, pattern hits ----------------------
def gate_evaluate(
    *, action: Action, account: InstagramAccount, now: datetime | None = None, policy: SafetyPolicy | None = None
) -> Decision:
    """Decide whether ``action`` may run now. Never drops work: over-limit work is deferred.

    ``policy`` replaces the effective policy of the account (for tests); kill
    switches are always read. An allow has taken the shared counter slots.
    """
    action.account = account
    return gate_evaluate_many(actions=[action], now=now, policy=policy)[0]


def gate_evaluate_many(
    *, actions: list[Action], now: datetime | None = None, policy: SafetyPolicy | None = None
) -> list[Decision]:
    """Decide about several actions of different accounts (``action.account`` loaded) at once, in their order.

    ``safety.gate.gate_assess_many`` decides (one read of the ledger for all);
    then, in the caller's transaction, the pattern detector's hits are recorded
    and the shared counter slots of the actions still allowed are taken, one
    counter statement per set of slots (a workspace's actions share theirs).
    The caller gives at most one action per account (the dispatcher gates a
    claim in rounds) and must mark the allowed ones sending, or roll back.
    ``policy`` as for ``gate_evaluate``.
    """
    now = now or timezone.now()
    assessments = gate_assess_many(actions=actions, now=now, policy=policy)
    for action, assessment in zip(actions, assessments, strict=True):
        for hit in assessment.hits:
            _pattern_hit_record(action=action, hit=hit, now=now)
    decisions = [assessment.decision for assessment in assessments]
    by_slots: dict[tuple[CounterSlot, ...], list[int]] = {}
    for index, assessment in enumerate(assessments):
        if assessment.decision is None:
            by_slots.setdefault(assessment.slots, []).append(index)
    for slots, indexes in by_slots.items():
        for index, full in zip(indexes, _counters_take_each(slots, len(indexes)), strict=True):
            decisions[index] = _counted(full, assessments[index].note)
    decided = [decision for decision in decisions if decision is not None]
    for decision in decided:
        GATE_DECISIONS.labels(verdict=decision.verdict, reason=gate_reason_category(decision)).inc()
    return decided


# The gate's reasons are sentences with figures in them; a metric's label takes the kind of reason, by how each
# check starts its sentence (safety.gate and its modules), so the label set stays small and fixed.
GATE_REASON_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("kill switch", "kill_switch"),
    ("the account is ", "account_state"),
    ("no calls until Instagram", "rate_limited"),
    ("warm-up", "warmup"),
    ("backoff", "backoff"),
    ("cooldown", "cooldown"),
    ("pattern", "pattern"),
    ("active hours", "active_hours"),
)


def gate_reason_category(decision: Decision) -> str:
    """A short, bounded category of a decision's reason (``instaforge_gate_decisions_total{reason}``)."""
    if decision.verdict == Verdict.ALLOW:
        return "allowed"
    reason = decision.reason
    for start, category in GATE_REASON_CATEGORIES:
        if reason.startswith(start):
            return category
    if "window, resets at" in reason:
        return "shared_limit"
    if " used in the last " in reason:
        return "meta_limit" if reason.startswith("Meta") else "limit"
    if " by risk " in reason:
        return "risk"
    return "other"


def _pattern_hit_record(*, action: Action, hit: PatternHit, now: datetime) -> None:
    """A pattern hit as a ``SafetyEvent`` (for the risk score); a varied text is written on the action too."""
    if hit.outcome == SafetyEventOutcome.VARY:
        Action.all_workspaces.filter(pk=action.pk).update(
            payload=action.payload, text_fingerprint=action.text_fingerprint
        )
    safety_event_record(
        account_id=action.account_id,
        workspace_id=action.workspace_id,
        kind=hit.kind,
        outcome=hit.outcome,
        detail=hit.detail,
        action=action,
        data=hit.data,
        now=now,
        dedupe=hit.dedupe,
    )


def _counters_take_each(slots: tuple[CounterSlot, ...], units: int) -> list[CounterSlot | None]:
    """Take one unit of ``slots`` for each of ``units`` actions: for each, None if taken, else the full slot.

    All at once when there is room for all; else one by one in order until one
    does not fit, and the rest wait too (the slot only fills up meanwhile).
    """
    full = counters_take(slots=list(slots), units=units)
    if full is None or units == 1:
        return [full] * units
    results: list[CounterSlot | None] = []
    for _ in range(units):
        full = counters_take(slots=list(slots))
        results.append(full)
        if full is not None:
            return results + [full] * (units - len(results))
    return results


def _counted(full: CounterSlot | None, note: str) -> Decision:
    if full is not None:
        return Decision.defer(
            full.resets_at,
            f"{full.what}: {full.limit} of {full.limit} used (fixed {full.window} window, "
            f"resets at {full.resets_at:%H:%M} UTC)",
        )
    return Decision.allow(note[:500])


def gate_allow_undo(*, action: Action, started_at: datetime | None) -> None:
    """Undo what an allow at ``started_at`` counted, for an action that reached no one (Instagram unreachable).

    The ledger's counts follow the action's start time, which the caller clears; the shared counter slots
    the allow took (``safety.gate.gate_allow_slots``) are given back here, all or none.
    """
    if started_at is None:
        return
    slots = gate_allow_slots(action=action, at=started_at)
    if slots:
        with transaction.atomic():
            counters_give_back(slots=list(slots))


# --- The shared counters (``safety.counters`` describes them) ---------------------------------
def _slots_match(slots: list[CounterSlot], units: int) -> tuple[str, list[Any]]:
    """The condition matching the rows of ``slots`` with room for ``units`` more, and its parameters."""
    quote = connection.ops.quote_name
    one = f"{quote('scope')} = %s AND {quote('window')} = %s AND {quote('window_start')} = %s"
    match = " OR ".join(f"({one} AND {quote('count')} <= %s)" for _ in slots)
    params: list[Any] = []
    for slot in slots:
        start = connection.ops.adapt_datetimefield_value(slot.window_start)
        params += [slot.scope, slot.window, start, slot.limit - units]  # room for ``units`` more
    return match, params


def _take_all_at_once(slots: list[CounterSlot], units: int) -> bool:
    """One statement, no savepoint: take ``units`` of every slot when every one has room; else nothing, no row locked.

    The usual case of ``counters_take`` (every row there, none full). First a look without locks: unless every
    slot's row is there with room, nothing is locked or changed (``_take_all_or_none`` then sorts it out, as
    before). Then the rows are locked in the order every statement locks them (``FOR UPDATE``, PostgreSQL) and
    re-checked after any wait; unless every one still has room, nothing is changed (a row another dispatcher
    filled meanwhile stays locked until commit, as a taken one would). Why: the savepoint around
    ``_take_all`` (two more statements) cost as much as the update itself on every content action.
    """
    table, quote = _table_of(SafetyCounter), connection.ops.quote_name
    match, params = _slots_match(slots, units)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    # The look without locks decides before the locking read runs at all (CASE: evaluated in this order).
    sql = (
        f"WITH room AS (SELECT {quote('id')} FROM {table} WHERE {match} "  # noqa: S608
        f"ORDER BY {quote('scope')}, {quote('window')}{lock}) "
        f"UPDATE {table} SET {quote('count')} = {quote('count')} + %s "
        f"WHERE CASE WHEN (SELECT COUNT(*) FROM {table} WHERE {match}) = %s "
        f"THEN (SELECT COUNT(*) FROM room) = %s ELSE FALSE END "
        f"AND {quote('id')} IN (SELECT {quote('id')} FROM room) RETURNING {quote('id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, units, *params, len(slots), len(slots)])
        # The rows returned, not the cursor's rowcount: SQLite's driver counts none for a statement opening with WITH.
        return len(cursor.fetchall()) == len(slots)


def _table_of(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _take_all(slots: list[CounterSlot], units: int) -> set[tuple[str, str]]:
    """One statement: take ``units`` of every slot that has room for them; returns the (scope, window) of those taken.

    The rows are locked in one order (scope, window) by every dispatcher (``FOR
    UPDATE`` in the sub-select, PostgreSQL; SQLite serialises writers), so
    transactions waiting on each other's rows cannot deadlock; a row another
    transaction holds is re-checked against its limit once that one commits.
    """
    table, quote = SafetyCounter._meta.db_table, connection.ops.quote_name
    match, params = _slots_match(slots, units)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"UPDATE {quote(table)} SET {quote('count')} = {quote('count')} + %s WHERE {quote('id')} IN "  # noqa: S608
        f"(SELECT {quote('id')} FROM {quote(table)} WHERE {match} ORDER BY {quote('scope')}, {quote('window')}{lock}) "
        f"RETURNING {quote('scope')}, {quote('window')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [units, *params])
        return {(scope, window) for scope, window in cursor.fetchall()}


def _take_all_or_none(slots: list[CounterSlot], units: int) -> set[tuple[str, str]] | None:
    """``_take_all`` in a savepoint: None when every slot was taken; else those that had room, with nothing kept.

    Rolling back to the savepoint gives the units back and releases the rows'
    locks (PostgreSQL): this transaction then holds no counter row while it
    creates a new window's rows. Holding some while inserting others could
    deadlock with a dispatcher that inserted first and waits for those rows.
    """
    with transaction.atomic():  # a savepoint inside the caller's transaction
        taken = _take_all(slots, units)
        if len(taken) == len(slots):
            return None
        transaction.set_rollback(True)  # leaving the block rolls back to the savepoint
    return taken


def counters_take(*, slots: list[CounterSlot], units: int = 1) -> CounterSlot | None:
    """Take ``units`` of every slot, all or none. Returns the first slot without room, or None when all were taken.

    Must run inside the transaction that records the action as sending. One
    statement when every window's row exists with room (``_take_all_at_once``);
    else one in a savepoint, a new window's rows created, then it runs once more.
    """
    for slot in slots:
        if slot.limit < units:
            return slot
    if not slots:
        return None
    if _take_all_at_once(slots, units):
        return None
    taken = _take_all_or_none(slots, units)
    if taken is None:
        return None
    # A row may be missing (a new hour or day): create the windows' rows, in the order every statement
    # locks them, then try once more.
    ordered = sorted(slots, key=lambda slot: (slot.scope, slot.window))
    SafetyCounter.objects.bulk_create(
        [SafetyCounter(scope=s.scope, window=s.window, window_start=s.window_start, count=0) for s in ordered],
        ignore_conflicts=True,
    )
    taken = _take_all_or_none(slots, units)
    if taken is None:
        return None
    return next(slot for slot in slots if (slot.scope, slot.window) not in taken)


def counters_give_back(*, slots: list[CounterSlot], units: int = 1) -> None:
    """Give back ``units`` of every slot taken for a call that never happened (never below zero).

    The rows are updated in the order every ``counters_take`` locks them (scope, then window): no deadlock.
    """
    for slot in sorted(slots, key=lambda slot: (slot.scope, slot.window)):
        SafetyCounter.objects.filter(
            scope=slot.scope, window=slot.window, window_start=slot.window_start, count__gte=units
        ).update(count=F("count") - units)


def counters_prune(*, now: datetime) -> int:
    """Delete counters of windows that ended more than a day ago."""
    deleted, _ = SafetyCounter.objects.filter(window_start__lt=now - timedelta(days=2)).delete()
    return deleted


# --- What the engine learns from an outcome ---------------------------------------------------
def action_outcome_observe(
    *, action: Action, outcome: str, error: Exception | None = None, now: datetime | None = None
) -> None:
    """What the safety engine learns from the outcome of one sent action: the dispatcher's one call per outcome.

    ``outcome`` is the action's new state; ``error`` the typed error of
    ``instagram.errors`` that Instagram's answer (or its absence) raised, if any.

    - a success ends the run of failures of its type (no query when the gate saw none);
    - not sent (``NotSentError``: Instagram unreachable) teaches nothing about the
      account: no event, no risk, no backoff; the shared counter slots its allow
      took are given back (``gate_allow_undo``);
    - a rate limit: no call for the account until Instagram's regain time (at
      least ``USAGE_STOP_DEFAULT``, ``rate_limit_observe``), and one ``rate_limit``
      event, with the risk score and the suspension it may bring
      (``action_error_observe``);
    - any other error: ``action_error_observe``.
    """
    if isinstance(error, NotSentError):
        gate_allow_undo(action=action, started_at=action.started_at)
        return
    if error is None:
        if outcome == ActionState.SUCCEEDED:
            backoff_success_record(action=action)
        return
    now = now or timezone.now()
    if isinstance(error, RateLimitedError):
        rate_limit_observe(
            account_id=action.account_id, code=error.code, retry_after_seconds=error.retry_after_seconds, now=now
        )
    action_error_observe(action=action, error=error, now=now)


def action_error_observe(*, action: Action, error: Exception, now: datetime | None = None) -> None:
    """What an error answer to ``action`` teaches: an event, the risk score, backoff, maybe a suspension.

    ``error`` is one of ``instagram.errors``' typed errors. A call that never left (``NotSentError``:
    Instagram unreachable) teaches nothing about the account: no event, no risk, no backoff.
    """
    if isinstance(error, NotSentError):
        return
    now = now or timezone.now()
    code = getattr(error, "code", None)
    message = secrets_redact(str(getattr(error, "message", "") or error))[:300]
    common: dict[str, Any] = {
        "account_id": action.account_id,
        "workspace_id": action.workspace_id,
        "action": action,
        "now": now,
    }
    evidence = {
        "error": {"code": code, "message": message, "type": type(error).__name__},
        "action": _action_data(action),
    }
    if isinstance(error, PolicyBlockedError):
        safety_event_record(
            kind=SafetyEventKind.POLICY_BLOCK,
            code=code,
            detail=f"policy block (368): {message}",
            data=evidence,
            **common,
        )
        account_suspend_with_evidence(
            action=action,
            cause="safety engine: policy block from Instagram",
            reason=f"Instagram blocked the action for policy reasons (code 368): {message}",
            evidence=evidence,
            now=now,
        )
        return
    if isinstance(error, RateLimitedError):
        safety_event_record(
            kind=SafetyEventKind.RATE_LIMIT,
            code=code,
            detail=f"rate limited (code {code}): {message}",
            data=evidence,
            **common,
        )
        policy = account_safety(workspace_id=action.workspace_id, account_id=action.account_id).policy
        limit = policy.setting("risk.suspend_after_rate_limits")
        window = timedelta(seconds=policy.setting("risk.rate_limit_window_seconds", 3600))
        hits = SafetyEvent.all_workspaces.filter(
            account_id=action.account_id, kind=SafetyEventKind.RATE_LIMIT, at__gte=now - window
        ).count()
        if limit and hits >= limit:
            account_suspend_with_evidence(
                action=action,
                cause="safety engine: repeated rate limiting",
                reason=f"{hits} rate-limit answers from Instagram within {int(window.total_seconds() // 60)} min "
                f"(last: code {code})",
                evidence={**evidence, "rate_limits_in_window": hits},
                now=now,
            )
        return
    if isinstance(error, TokenInvalidError | OutsideMessagingWindowError):
        # A rejected token has its own consequence (ERROR); a closed messaging window is Meta's rule about
        # one conversation, not pressure on the account: neither slows the account's other messages down.
        safety_event_record(
            kind=SafetyEventKind.ERROR,
            outcome=SafetyEventOutcome.NOTE,
            code=code,
            detail=f"token rejected: {message}" if isinstance(error, TokenInvalidError) else message,
            data=evidence,
            **common,
        )
        return
    safety_event_record(
        kind=SafetyEventKind.ERROR,
        outcome=SafetyEventOutcome.NOTE,
        code=code,
        detail=message or "error",
        data=evidence,
        **common,
    )
    backoff_failure_record(action=action, error=message or type(error).__name__, now=now)


def _action_data(action: Action) -> dict[str, Any]:
    return {
        "id": action.pk,
        "type": action.action_type,
        "idempotency_key": action.idempotency_key,
        "payload": action.payload,
        "started_at": action.started_at.isoformat() if action.started_at else None,
    }


def account_suspend_with_evidence(
    *, action: Action, cause: str, reason: str, evidence: dict[str, Any], now: datetime
) -> SafetyEvent | None:
    """Suspend the account for review; the evidence (error, action, risk components) is kept as a SafetyEvent.

    An account already held (suspended, paused, in error) is left as it is, and no second event is recorded.
    """
    usage = AccountUsage.objects.filter(account_id=action.account_id).first()
    risk = {
        "score": usage.risk_score if usage else 0,
        "components": usage.risk_components if usage else {},
    }
    with transaction.atomic():
        account = InstagramAccount.all_workspaces.select_for_update().get(pk=action.account_id)
        if not account.is_acting:
            return None
        event = SafetyEvent.all_workspaces.create(
            workspace_id=action.workspace_id,
            account_id=action.account_id,
            at=now,
            kind=SafetyEventKind.SUSPENSION,
            outcome=SafetyEventOutcome.SUSPEND,
            code=(evidence.get("error") or {}).get("code"),
            action_id_ref=action.pk,
            detail=secrets_redact(reason)[:500],
            data=value_redact({**evidence, "risk": risk, "cause": cause}),
        )
        with contextlib.suppress(ForbiddenTransition):
            account_suspend(
                account_id=action.account_id,
                actor=None,
                cause=cause,
                reason=(
                    f"{reason} · risk {risk['score']}/100 · action #{action.pk} · evidence: safety event #{event.pk}"
                )[:500],
            )
    return event


def backoff_failure_record(*, action: Action, error: str, now: datetime | None = None) -> int:
    """One more consecutive failure of the account and type: the wait doubles. Returns the wait in seconds."""
    now = now or timezone.now()
    policy = account_safety(workspace_id=action.workspace_id, account_id=action.account_id).policy
    base, longest = policy.setting("backoff.base_seconds"), policy.setting("backoff.max_seconds", 3600)
    with transaction.atomic():
        AccountUsage.objects.get_or_create(account_id=action.account_id)
        record = AccountUsage.objects.select_for_update().get(account_id=action.account_id)
        backoff = dict(record.backoff or {})
        failures = int((backoff.get(action.action_type) or {}).get("failures", 0)) + 1
        seconds = min(longest, base * 2 ** (failures - 1)) if base else 0
        backoff[action.action_type] = {
            "failures": failures,
            "seconds": seconds,
            "until": (now + timedelta(seconds=seconds)).isoformat(),
            "error": error[:200],
        }
        record.backoff = backoff
        record.save(update_fields=["backoff"])
    if seconds:
        safety_event_record(
            account_id=action.account_id,
            workspace_id=action.workspace_id,
            kind=SafetyEventKind.BACKOFF,
            outcome=SafetyEventOutcome.DEFER,
            detail=f"{failures} consecutive failures of {plural_label(action.action_type)}: "
            f"waiting {seconds} s (last: {error[:200]})",
            action=action,
            now=now,
            data={"failures": failures, "seconds": seconds},
        )
    return seconds


def backoff_success_record(*, action: Action) -> None:
    """A success ends the account and type's run of failures (no query when the gate saw none)."""
    if not getattr(action, BACKOFF_PENDING, False):
        return
    with transaction.atomic():
        record = AccountUsage.objects.select_for_update().get(account_id=action.account_id)
        backoff = dict(record.backoff or {})
        backoff.pop(action.action_type, None)
        record.backoff = backoff
        record.save(update_fields=["backoff"])


def safety_event_record(
    *,
    account_id: int,
    workspace_id: int,
    kind: str,
    detail: str,
    outcome: str = SafetyEventOutcome.FLAG,
    action: Action | None = None,
    code: int | None = None,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
    dedupe: timedelta | None = None,
) -> SafetyEvent | None:
    """Record what the engine saw about an account and refresh its risk score.

    With ``dedupe``, nothing is recorded when an event of the same kind and
    outcome was recorded for the account within that time (a deferred action
    is checked again and again; one hit is one event). Returns the event, or None.
    The detail and the data (which quote Instagram's errors) are stored redacted.
    """
    now = now or timezone.now()
    events = SafetyEvent.all_workspaces.filter(account_id=account_id, kind=kind, outcome=outcome)
    if dedupe is not None and events.filter(at__gte=now - dedupe).exists():
        return None
    event = SafetyEvent.all_workspaces.create(
        workspace_id=workspace_id,
        account_id=account_id,
        at=now,
        kind=kind,
        outcome=outcome,
        code=code,
        action_id_ref=action.pk if action is not None else None,
        detail=secrets_redact(detail)[:500],
        data=value_redact(data or {}),
    )
    risk_refresh(account_id=account_id, now=now)
    return event


# A steady score is sampled again after this long (about 24 rows a day); a changed one at once.
RISK_SAMPLE_EVERY = timedelta(hours=1)
# The figures page shows at most 90 days; older samples are deleted, this many per housekeeping pass.
RISK_SAMPLES_KEPT = timedelta(days=90)
RISK_SAMPLES_PRUNE_BATCH = 500


def risk_refresh(*, account_id: int, now: datetime | None = None) -> AccountUsage:
    """Recompute and store the account's score and components, and sample the score's history.

    A ``RiskScoreSample`` is written when the score differs from the account's last sample or that sample is
    older than ``RISK_SAMPLE_EVERY``. The last sample's score and time are kept on the usage row this function
    reads anyway, so a refresh that writes no sample runs no more statements than before (a read, an UPDATE).
    A due sample is claimed by a conditional UPDATE on the last sample time, so two concurrent refreshes
    write one sample.
    """
    now = now or timezone.now()
    record, _ = AccountUsage.objects.select_related("account").get_or_create(account_id=account_id)
    components = risk_components_compute(account_id=account_id, now=now, peak_percent=record.peak_percent)
    score = risk_total(components)
    fields: dict[str, Any] = {"risk_score": score, "risk_components": components, "risk_updated_at": now}
    sampled = False
    if (
        record.risk_sampled_at is None
        or record.risk_sampled_score != score
        or now - record.risk_sampled_at >= RISK_SAMPLE_EVERY
    ):
        with transaction.atomic():
            claim = AccountUsage.objects.filter(pk=record.pk)
            claim = (
                claim.filter(risk_sampled_at__isnull=True)
                if record.risk_sampled_at is None
                else claim.filter(risk_sampled_at=record.risk_sampled_at)
            )
            if claim.update(**fields, risk_sampled_score=score, risk_sampled_at=now):
                RiskScoreSample.all_workspaces.create(
                    workspace_id=record.account.workspace_id, account_id=account_id, at=now, score=score
                )
                record.risk_sampled_score, record.risk_sampled_at = score, now
                sampled = True
    if not sampled:
        AccountUsage.objects.filter(pk=record.pk).update(**fields)
    record.risk_score, record.risk_components, record.risk_updated_at = score, components, now
    return record


def risk_samples_prune(*, now: datetime, batch: int = RISK_SAMPLES_PRUNE_BATCH) -> int:
    """Delete up to ``batch`` risk score samples older than ``RISK_SAMPLES_KEPT`` (the oldest first).

    Small batches keep each housekeeping pass short; a backlog goes over the following passes.
    """
    old = RiskScoreSample.all_workspaces.filter(at__lt=now - RISK_SAMPLES_KEPT).order_by("at")
    ids = list(old.values_list("pk", flat=True)[:batch])
    if not ids:
        return 0
    deleted, _ = RiskScoreSample.all_workspaces.filter(pk__in=ids).delete()
    return deleted


def risks_refresh_stale(*, now: datetime | None = None, limit: int = 100) -> int:
    """Recompute the scores above zero that were computed more than ``STALE_AFTER`` ago: risk decays."""
    now = now or timezone.now()
    stale = AccountUsage.objects.filter(risk_score__gt=0).exclude(risk_updated_at__gt=now - STALE_AFTER)
    account_ids = list(stale.values_list("account_id", flat=True)[:limit])
    for account_id in account_ids:
        risk_refresh(account_id=account_id, now=now)
    return len(account_ids)


def safety_housekeep(*, now: datetime | None = None) -> None:
    """The dispatcher's housekeeping: counter rows of ended windows and old risk samples go, risk scores decay."""
    now = now or timezone.now()
    counters_prune(now=now)
    risk_samples_prune(now=now)
    risks_refresh_stale(now=now)


# --- Usage headers and rate limits -----------------------------------------------------------
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


# --- Overrides and kill switches --------------------------------------------------------------
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
