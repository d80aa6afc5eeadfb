"""Claiming due actions and gating them: the planned actions go to their verdict in one transaction.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it
(PostgreSQL) and a conditional ``UPDATE … WHERE state = 'planned'`` elsewhere
(SQLite).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model, QuerySet
from django.utils import timezone

from accounts.models import InstagramAccount
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
    accounts are locked with ``FOR NO KEY UPDATE … SKIP LOCKED`` (another dispatcher
    skips both until this one commits, as it would skip claimed actions; the
    statement is ``_due_locked``'s) and gated at once, so they go from planned straight to their verdict. Should
    the process die meanwhile, the transaction rolls back and they are simply
    due again. Why: the separate claim (a read, an update, a commit, then the
    gate's read of the same rows) cost a dispatcher a tenth of its CPU.
    Elsewhere (SQLite) the claim is its own conditional update, as in
    ``actions_claim_due``, then ``actions_gate_and_mark``.
    """
    if not connection.features.has_select_for_update_skip_locked:
        claimed = actions_claim_due(worker_id=worker_id, now=now, limit=limit)
        return len(claimed), actions_gate_and_mark(action_ids=claimed, worker_id=worker_id, now=timezone.now())
    with transaction.atomic():
        actions = sorted(_due_locked(now=now, limit=limit), key=lambda action: (action.account_id, action.pk))
        return len(actions), _gate_locked(actions, worker_id=worker_id, now=timezone.now())


def _due_locked_queryset(now: datetime) -> QuerySet[Action]:
    """The claim's read as a queryset: what ``_due_locked`` runs, for its tests (and the reader of this module).

    FOR NO KEY UPDATE: as exclusive between dispatchers as FOR UPDATE, but the foreign-key checks of rows
    written for the same accounts meanwhile (a webhook's event, a worker's comment and actions) do not wait
    for the gate (they did, with FOR UPDATE, for as long as a slow gate held its accounts).
    """
    return (
        _due(now)
        .select_related("account", "account__usage")
        .select_for_update(skip_locked=True, of=("self", "account"), no_key=True)
    )


class _Columns:
    """One model's columns in a statement written here, and its instances built from a row's slice of values.

    As the ORM builds them (``Model.from_db`` after each field's converters), without compiling a query.
    """

    def __init__(self, model: type[Model], table: str) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.attnames = [field.attname for field in fields]
        self.sql = [f"{table}.{connection.ops.quote_name(field.column)}" for field in fields]
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(table)
            # Field.get_db_converters is Django's (the compiler calls it), missing from the type stubs.
            found = connection.ops.get_db_converters(column) + cast(Any, field).get_db_converters(connection)
            if found:
                converters.append((index, column, found))
        self.converters = converters

    def build(self, values: list[Any]) -> Any:
        for index, column, converters in self.converters:
            value = values[index]
            for converter in converters:
                value = converter(value, column, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)


@dataclass(frozen=True)
class _ClaimRead:
    sql: str
    action: _Columns
    account: _Columns
    usage: _Columns


_claim_reads: dict[str, _ClaimRead] = {}


def _claim_read() -> _ClaimRead:
    """The claim's statement and readers, built once per database (the text is the same for any claim)."""
    read = _claim_reads.get(connection.alias)
    if read is not None:
        return read
    models: tuple[type[Model], ...] = (Action, InstagramAccount, _usage_model())
    quote = connection.ops.quote_name
    tables = [quote(model._meta.db_table) for model in models]
    action, account, usage = (_Columns(model, table) for model, table in zip(models, tables, strict=True))
    columns = ", ".join([*action.sql, *account.sql, *usage.sql])
    action_table, account_table, usage_table = tables
    sql = (
        f"SELECT {columns} FROM {action_table} "  # noqa: S608 (names from the models; every value a parameter)
        f"INNER JOIN {account_table} ON ({action_table}.{quote('account_id')} = {account_table}.{quote('id')}) "
        f"LEFT OUTER JOIN {usage_table} ON ({account_table}.{quote('id')} = {usage_table}.{quote('account_id')}) "
        f"WHERE ({action_table}.{quote('due_at')} <= %s AND {action_table}.{quote('state')} = %s) "
        f"ORDER BY {action_table}.{quote('due_at')} ASC, {action_table}.{quote('id')} ASC LIMIT %s "
        f"FOR NO KEY UPDATE OF {action_table}, {account_table} SKIP LOCKED"
    )
    read = _ClaimRead(sql, action, account, usage)
    _claim_reads[connection.alias] = read
    return read


def _usage_model() -> type[Model]:
    """The account's usage row's model, through the account's relation (``select_related("account__usage")``'s way):
    the dispatcher reaches the safety engine only through its entry points."""
    return cast("type[Model]", InstagramAccount.usage.related.related_model)


def _due_locked(*, now: datetime, limit: int) -> list[Action]:
    """Up to ``limit`` due actions with their accounts and usage rows, the actions and accounts locked (PostgreSQL).

    The rows, statement and instances of ``_due_locked_queryset(now)[:limit]`` (its locks: ``FOR NO KEY UPDATE
    OF`` the actions and the accounts, ``SKIP LOCKED``), written once here: compiling that query through the
    ORM on every claim, one or two actions each when the dispatcher is woken for each new reply, was the
    largest part of the dispatcher's CPU (``bench/dispatch_profile.py``). One text for any limit, so
    PostgreSQL prepares it once per connection.
    """
    read = _claim_read()
    widths = (len(read.action.attnames), len(read.account.attnames))
    action_set = Action.account.field.set_cached_value
    usage_set = InstagramAccount.usage.related.set_cached_value
    usage_account_set = InstagramAccount.usage.related.field.set_cached_value
    with connection.cursor() as cursor:
        cursor.execute(read.sql, [connection.ops.adapt_datetimefield_value(now), ActionState.PLANNED, limit])
        rows = cursor.fetchall()
    actions = []
    for row in rows:
        values = list(row)
        action = read.action.build(values[: widths[0]])
        account = read.account.build(values[widths[0] : widths[0] + widths[1]])
        usage_values = values[widths[0] + widths[1] :]
        usage = read.usage.build(usage_values) if usage_values[0] is not None else None
        action_set(action, account)
        usage_set(account, usage)
        if usage is not None:
            usage_account_set(usage, account)
        actions.append(action)
    return actions


def _gate_locked(actions: list[Action], *, worker_id: str, now: datetime) -> list[Action]:
    """Gate ``actions`` (their accounts locked by the caller's transaction), record verdicts and decisions.

    On PostgreSQL each round's verdicts and decisions are written by one statement (``_round_write``);
    elsewhere the verdicts by a statement per kind of verdict, the decisions together at the end.
    """
    allowed: list[Action] = []
    decisions: list[ActionDecision] = []
    together = connection.vendor == "postgresql"
    for batch in _rounds(actions):
        verdicts = list(zip(batch, gate_evaluate_many(actions=batch, now=now), strict=True))
        round_decisions = [
            ActionDecision(
                workspace_id=action.workspace_id,
                action=action,
                verdict=decision.verdict,
                reason=decision.reason[:500],
                until=decision.until,
            )
            for action, decision in verdicts
        ]
        if together:
            _round_write(verdicts, round_decisions, worker_id=worker_id, now=now)
        else:
            _verdicts_apply(verdicts, worker_id=worker_id, now=now)
            decisions += round_decisions
        for action, decision in verdicts:
            if decision.verdict == Verdict.ALLOW:
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
    sql, params = _decisions_insert(decisions)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _decisions_insert(decisions: list[ActionDecision]) -> tuple[str, list[Any]]:
    """PostgreSQL's ``INSERT … SELECT FROM unnest(…)`` of ``decisions`` (``decisions_write``) and its parameters."""
    values = [
        [decision.workspace_id for decision in decisions],
        [decision.action_id for decision in decisions],
        [decision.at for decision in decisions],
        [decision.verdict for decision in decisions],
        [decision.reason[:500] for decision in decisions],
        [decision.until for decision in decisions],
    ]
    return _decisions_insert_sql(), values


@functools.cache
def _decisions_insert_sql() -> str:
    """The text of ``_decisions_insert`` (PostgreSQL's), built once."""
    columns = [
        ("workspace_id", "bigint"),
        ("action_id", "bigint"),
        ("at", "timestamptz"),
        ("verdict", "text"),
        ("reason", "text"),
        ("until", "timestamptz"),
    ]
    names = ", ".join(connection.ops.quote_name(name) for name, _ in columns)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind in columns)
    # The table's name and the columns come from the model and this function; every value is a parameter.
    return f"INSERT INTO {ActionDecision._meta.db_table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


def _verdict_noted(action: Action, decision: Decision, *, worker_id: str, now: datetime, lease: datetime) -> None:
    """The verdict on the action in memory, as the statements below write it (the sender trusts what it holds)."""
    if decision.verdict == Verdict.DEFER:
        assert decision.until is not None
        action.state, action.due_at, action.claimed_by = ActionState.PLANNED, decision.until, ""
        action.lease_until, action.last_reason = None, decision.reason[:500]
    elif decision.verdict == Verdict.DENY:
        action.state, action.last_reason, action.finished_at, action.lease_until = (
            ActionState.DENIED,
            decision.reason[:500],
            now,
            None,
        )
        ACTIONS.labels(type=action.action_type, outcome="denied").inc()
    else:
        action.state, action.claimed_by, action.started_at = ActionState.SENDING, worker_id, now
        action.attempts += 1
        action.lease_until, action.last_reason = lease, decision.reason[:500]


# The columns a verdict sets, for PostgreSQL's one statement per round: (column, type, keeps the row's value when
# the verdict gives none). A deferral sets (state, due_at, claimed_by = '', lease_until = NULL, last_reason); a
# denial (state, last_reason, finished_at, lease_until = NULL); an allow (state, claimed_by, started_at,
# attempts + 1, lease_until, last_reason): as ``_verdicts_apply``'s statements.
_VERDICT_COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("id", "bigint", False),
    ("state", "text", False),
    ("due_at", "timestamptz", True),
    ("claimed_by", "text", True),
    ("started_at", "timestamptz", True),
    ("attempts", "integer", False),
    ("lease_until", "timestamptz", False),
    ("last_reason", "text", False),
    ("finished_at", "timestamptz", True),
)


def _round_write(
    verdicts: list[tuple[Action, Decision]], decisions: list[ActionDecision], *, worker_id: str, now: datetime
) -> None:
    """PostgreSQL: a round's verdicts on its actions and its decisions, in one statement.

    ``WITH verdict AS (UPDATE … FROM unnest(…)) INSERT … SELECT FROM unnest(…)``: the rows written are those
    of ``_verdicts_apply`` and ``decisions_write``, one array per column, so the text is the same for any
    round and any mix of verdicts (prepared once per connection). Why: a claim of one action (the
    dispatcher woken for each new reply) ran a statement per kind of verdict and one for the decisions.
    """
    lease = lease_from(now)
    values: list[list[Any]] = [[] for _ in _VERDICT_COLUMNS]
    for action, decision in verdicts:
        _verdict_noted(action, decision, worker_id=worker_id, now=now, lease=lease)
        allow, defer = decision.verdict == Verdict.ALLOW, decision.verdict == Verdict.DEFER
        row = (
            action.pk,
            action.state,
            action.due_at if defer else None,
            action.claimed_by if allow or defer else None,
            now if allow else None,
            1 if allow else 0,
            action.lease_until,
            action.last_reason,
            now if decision.verdict == Verdict.DENY else None,
        )
        for column, value in zip(values, row, strict=True):
            column.append(value)
    insert, insert_params = _decisions_insert(decisions)
    with connection.cursor() as cursor:
        cursor.execute(f"{_verdicts_update_sql()} {insert}", [*values, *insert_params])


@functools.cache
def _verdicts_update_sql() -> str:
    """The ``WITH verdict AS (UPDATE … FROM unnest(…))`` of ``_round_write`` (PostgreSQL's), built once."""
    quote, table = connection.ops.quote_name, _quoted_table(Action)
    sets = []
    for name, _, keeps in _VERDICT_COLUMNS[1:]:
        quoted = quote(name)
        if name == "attempts":
            sets.append(f"{quoted} = {table}.{quoted} + verdict_row.{quoted}")
        elif keeps:
            sets.append(f"{quoted} = COALESCE(verdict_row.{quoted}, {table}.{quoted})")
        else:
            sets.append(f"{quoted} = verdict_row.{quoted}")
    names = ", ".join(quote(name) for name, _, _ in _VERDICT_COLUMNS)
    arrays = ", ".join(f"%s::{kind}[]" for _, kind, _ in _VERDICT_COLUMNS)
    # The tables and columns come from the models and this module; every value is a parameter.
    return (
        f"WITH verdict AS (UPDATE {table} SET {', '.join(sets)} "  # noqa: S608
        f"FROM unnest({arrays}) AS verdict_row ({names}) WHERE {table}.{quote('id')} = verdict_row.{quote('id')})"
    )


def _quoted_table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


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
        _verdict_noted(action, decision, worker_id=worker_id, now=now, lease=lease)
        if decision.verdict == Verdict.DEFER:
            deferred.append(action)
        else:
            same.setdefault((decision.verdict, decision.reason[:500]), []).append(action.pk)
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
