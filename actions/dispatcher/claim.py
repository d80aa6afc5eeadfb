"""Claiming due actions and gating them: the planned actions go to their verdict in one transaction.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL) and a conditional ``UPDATE … WHERE state = 'planned'`` elsewhere
(SQLite).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from actions.models import Action, ActionDecision, ActionState, Verdict
from observability.metrics import ACTIONS
from safety.decision import Decision
from safety.services import gate_evaluate_many


def lease_from(now: datetime) -> datetime:
    """Until when a claim (or a send, or a reconciliation) taken at ``now`` is this dispatcher's."""
    return now + timedelta(seconds=settings.DISPATCHER_LEASE_SECONDS)


def _due(now: datetime) -> QuerySet[Action]:
    """The planned actions due by ``now``, in the order they are claimed (the due index's order)."""
    return Action.all_workspaces.filter(state=ActionState.PLANNED, due_at__lte=now).order_by("due_at", "id")


def actions_claim_due(*, worker_id: str, now: datetime, limit: int = 20) -> list[int]:
    """Claim up to ``limit`` due planned actions for this worker; no action is claimed twice."""
    due = _due(now)
    claim = {"state": ActionState.CLAIMED, "claimed_by": worker_id, "lease_until": lease_from(now)}
    if connection.features.has_select_for_update_skip_locked:
        # Also skip the actions of accounts another dispatcher is gating (their rows are locked until it
        # commits): it would only wait for them.
        with transaction.atomic():
            rows = due.select_related("account").select_for_update(
                skip_locked=True, of=("self", "account"), no_key=True
            )
            ids = [action.pk for action in rows.only("id", "account__id")[:limit]]
            Action.all_workspaces.filter(pk__in=ids).update(**claim)
        return ids
    claimed = []
    for action_id in due.values_list("pk", flat=True)[:limit]:
        # Re-check "due" too: another dispatcher may have claimed, deferred and re-planned it meanwhile.
        if due.filter(pk=action_id).update(**claim):
            claimed.append(action_id)
    return claimed


def action_gate_and_mark(*, action_id: int, worker_id: str, now: datetime) -> Action | None:
    """Ask the gate about one claimed action (see ``actions_gate_and_mark``). Returns it if it may be sent now."""
    allowed = actions_gate_and_mark(action_ids=[action_id], worker_id=worker_id, now=now)
    return allowed[0] if allowed else None


def actions_gate_and_mark(*, action_ids: list[int], worker_id: str, now: datetime) -> list[Action]:
    """Ask the gate about claimed actions and record each verdict. Returns those that may be sent now.

    One transaction for the lot. It holds the accounts' row locks (taken
    together, in account order, as every dispatcher takes them: no deadlock),
    so two dispatchers never both count the same free slot of one account; the
    gate takes the shared (platform, workspace) counter slots in this same
    transaction, after every account lock, so an allow and its count commit
    together or not at all. The actions are gated in rounds of at most one
    per account (``gate_evaluate_many``: one ledger query and one counter
    statement per round), and a round's verdicts are applied before the next
    round is gated, so a later action of an account counts the earlier ones;
    the decisions are written together at the end.
    """
    if not action_ids:
        return []
    with transaction.atomic():
        # One query: the actions with their accounts and the accounts' usage rows (regain time, risk,
        # backoff), the accounts' rows locked (PostgreSQL; SQLite serialises writers anyway).
        actions = (
            Action.all_workspaces.select_related("account", "account__usage")
            .select_for_update(of=("account",), no_key=True)
            .filter(pk__in=action_ids, state=ActionState.CLAIMED, claimed_by=worker_id)
            .order_by("account_id", "id")
        )
        return _gate_locked(list(actions), worker_id=worker_id, now=now)


def actions_claim_and_gate(*, worker_id: str, now: datetime, limit: int = 20) -> tuple[int, list[Action]]:
    """Claim up to ``limit`` due actions and gate them: ``(how many were claimed, those that may be sent now)``.

    On PostgreSQL in one transaction and one read: the due actions and their
    accounts are locked with ``FOR UPDATE SKIP LOCKED`` (another dispatcher
    skips both until this one commits, as it would skip claimed actions) and
    gated at once, so they go from planned straight to their verdict. Should
    the process die meanwhile, the transaction rolls back and they are simply
    due again. Why: the separate claim (a read, an update, a commit, then the
    gate's read of the same rows) cost a dispatcher a tenth of its CPU.
    Elsewhere (SQLite) the claim is its own conditional update, as in
    ``actions_claim_due``, then ``actions_gate_and_mark``.
    """
    if not connection.features.has_select_for_update_skip_locked:
        claimed = actions_claim_due(worker_id=worker_id, now=now, limit=limit)
        return len(claimed), actions_gate_and_mark(action_ids=claimed, worker_id=worker_id, now=timezone.now())
    due = _due(now)
    with transaction.atomic():
        # FOR NO KEY UPDATE: as exclusive between dispatchers as FOR UPDATE, but the foreign-key checks of rows
        # written for the same accounts meanwhile (a webhook's event, a worker's comment and actions) do not wait
        # for the gate (they did, with FOR UPDATE, for as long as a slow gate held its accounts).
        rows = due.select_related("account", "account__usage").select_for_update(
            skip_locked=True, of=("self", "account"), no_key=True
        )
        actions = sorted(rows[:limit], key=lambda action: (action.account_id, action.pk))
        return len(actions), _gate_locked(actions, worker_id=worker_id, now=timezone.now())


def _gate_locked(actions: list[Action], *, worker_id: str, now: datetime) -> list[Action]:
    """Gate ``actions`` (their accounts locked by the caller's transaction), record verdicts and decisions."""
    allowed: list[Action] = []
    decisions: list[ActionDecision] = []
    for batch in _rounds(actions):
        verdicts = gate_evaluate_many(actions=batch, now=now)
        _verdicts_apply(list(zip(batch, verdicts, strict=True)), worker_id=worker_id, now=now)
        for action, decision in zip(batch, verdicts, strict=True):
            decisions.append(
                ActionDecision(
                    workspace_id=action.workspace_id,
                    action=action,
                    verdict=decision.verdict,
                    reason=decision.reason[:500],
                    until=decision.until,
                )
            )
            if decision.verdict == Verdict.ALLOW:
                action.state, action.started_at = ActionState.SENDING, now  # as _verdicts_apply wrote them
                allowed.append(action)
    decisions_write(decisions)
    return allowed


def decisions_write(decisions: list[ActionDecision]) -> None:
    """Write the gate's decisions (new, unsaved ``ActionDecision`` objects) in one ``INSERT``, as ``bulk_create`` would.

    On PostgreSQL the values go in one array per column (``INSERT … SELECT
    FROM unnest(…)``), so the statement's text is the same for any number of
    decisions. Why: ``bulk_create`` prepared each field of each row through the
    ORM and wrote a statement whose text grew with the claim, which psycopg
    parsed again and PostgreSQL planned again every time: a sixth of the
    gate's CPU (``bench/dispatch.py --gate-only``). Elsewhere, ``bulk_create``.
    """
    if not decisions:
        return
    if connection.vendor != "postgresql":
        ActionDecision.all_workspaces.bulk_create(decisions)
        return
    table = ActionDecision._meta.db_table
    columns: list[tuple[str, str, list[Any]]] = [
        ("workspace_id", "bigint", [decision.workspace_id for decision in decisions]),
        ("action_id", "bigint", [decision.action_id for decision in decisions]),
        ("at", "timestamptz", [decision.at for decision in decisions]),
        ("verdict", "text", [decision.verdict for decision in decisions]),
        ("reason", "text", [decision.reason[:500] for decision in decisions]),
        ("until", "timestamptz", [decision.until for decision in decisions]),
    ]
    names = ", ".join(connection.ops.quote_name(name) for name, _, _ in columns)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind, _ in columns)
    with connection.cursor() as cursor:
        # The table's name and the columns come from the model and this function; every value is a parameter.
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})",  # noqa: S608
            [values for _, _, values in columns],
        )


def _rounds(actions: list[Action]) -> list[list[Action]]:
    """The actions in rounds: the first of each account, then the second of each, and so on (order kept)."""
    rounds: list[list[Action]] = []
    seen: dict[int, int] = {}
    for action in actions:
        position = seen.get(action.account_id, 0)
        seen[action.account_id] = position + 1
        if position == len(rounds):
            rounds.append([])
        rounds[position].append(action)
    return rounds


def _verdicts_apply(verdicts: list[tuple[Action, Decision]], *, worker_id: str, now: datetime) -> None:
    """Record the gate's verdicts on the actions: a statement per distinct verdict and reason, deferrals in one."""
    deferred = []
    same: dict[tuple[str, str], list[int]] = {}
    lease = lease_from(now)
    for action, decision in verdicts:
        if decision.verdict == Verdict.DEFER:
            assert decision.until is not None
            action.state, action.due_at, action.claimed_by = ActionState.PLANNED, decision.until, ""
            action.lease_until, action.last_reason = None, decision.reason[:500]
            deferred.append(action)
        else:
            # The lease as written below: the sender trusts it instead of reading the row again.
            action.lease_until = lease if decision.verdict == Verdict.ALLOW else None
            action.claimed_by = worker_id
            same.setdefault((decision.verdict, decision.reason[:500]), []).append(action.pk)
            if decision.verdict == Verdict.DENY:
                ACTIONS.labels(type=action.action_type, outcome="denied").inc()
    _deferrals_write(deferred)
    for (verdict, reason), ids in same.items():
        if verdict == Verdict.DENY:
            Action.all_workspaces.filter(pk__in=ids).update(
                state=ActionState.DENIED, last_reason=reason, finished_at=now, lease_until=None
            )
        else:
            Action.all_workspaces.filter(pk__in=ids).update(
                state=ActionState.SENDING,
                claimed_by=worker_id,
                started_at=now,
                attempts=F("attempts") + 1,
                lease_until=lease,
                last_reason=reason,
            )


# Deferrals that share a time and reason (a shared cap, a kill switch) are written with one UPDATE each
# set; more different ones than this go in one bulk_update, whose CASE per row costs more to build.
DEFERRAL_SETS_UPDATED_APART = 3


def _deferrals_write(deferred: list[Action]) -> None:
    """Write the deferred actions back to planned, with their new due time and reason."""
    sets: dict[tuple[datetime, str], list[int]] = {}
    for action in deferred:
        sets.setdefault((action.due_at, action.last_reason), []).append(action.pk)
    if len(sets) > DEFERRAL_SETS_UPDATED_APART:
        fields = ["state", "due_at", "claimed_by", "lease_until", "last_reason"]
        Action.all_workspaces.bulk_update(deferred, fields)
        return
    for (until, reason), ids in sets.items():
        Action.all_workspaces.filter(pk__in=ids).update(
            state=ActionState.PLANNED, due_at=until, claimed_by="", lease_until=None, last_reason=reason
        )
