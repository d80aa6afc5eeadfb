"""Writes on the action ledger."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.dispatcher.wake import wake_notify
from actions.models import Action, ActionDecision, ActionState, ActionType
from instaforge.correlation import correlation_bind, correlation_id
from instaforge.redaction import secrets_redact, value_redact
from safety.patterns import payload_counterpart, payload_text, text_fingerprint
from safety.timing import reply_delay_draw, typing_lead

logger = logging.getLogger(__name__)


def action_plan(
    *,
    account: InstagramAccount,
    action_type: str,
    idempotency_key: str,
    payload: dict[str, Any],
    due_at: datetime | None = None,
    source_kind: str = "",
    source_id: str = "",
) -> tuple[Action, bool]:
    """Plan an action once. Planning the same key again returns the existing action.

    Returns ``(action, created)``. The unique (account, idempotency key)
    constraint makes this safe under concurrent workers and redeliveries.

    Human timing (``safety.timing``): without ``due_at``, an automated answer
    is due after a delay drawn from its type's distribution; an automated DM
    also gets a typing indicator (a ``sender_action`` planned just before it,
    under the key ``<key>:typing``). The who (``counterpart_id``) and the text
    fingerprint are recorded for the safety engine's cooldowns and patterns.
    """
    # Planned once: the insert is tried first (the common case, one statement); the unique key catches a repeat.
    now = timezone.now()
    action = action_new(
        account=account,
        action_type=action_type,
        idempotency_key=idempotency_key,
        payload=payload,
        due_at=due_at,
        source_kind=source_kind,
        source_id=source_id,
        now=now,
    )
    try:
        with transaction.atomic():
            action.save(force_insert=True)
            _typing_plan(action=action, now=now)
            # Due within the poll interval: the dispatchers are woken once this transaction commits (one
            # wake-up per transaction however many actions it plans; docs/performance.md).
            wake_notify(due=action.due_at)
    except IntegrityError:
        existing = Action.all_workspaces.filter(account=account, idempotency_key=idempotency_key).first()
        if existing is None:  # another constraint refused it: not a repeat
            raise
        return existing, False
    _planned_log(action)
    return action, True


def action_new(
    *,
    account: InstagramAccount,
    action_type: str,
    idempotency_key: str,
    payload: dict[str, Any],
    due_at: datetime | None = None,
    source_kind: str = "",
    source_id: str = "",
    now: datetime | None = None,
    correlation: str | None = None,
) -> Action:
    """An action as ``action_plan`` plans it, not yet saved: its due time (human timing), who and what it says.

    ``correlation``: the work that planned it (default: the one bound now, a webhook delivery's id).
    """
    now = now or timezone.now()
    delay = reply_delay_draw(action_type=action_type, payload=payload) if due_at is None else None
    text = payload_text(payload)
    return Action(
        workspace_id=account.workspace_id,
        account=account,
        action_type=action_type,
        idempotency_key=idempotency_key,
        payload=payload,
        due_at=due_at or now + (delay or timedelta(0)),
        source_kind=source_kind,
        source_id=source_id,
        counterpart_id=payload_counterpart(payload)[:64],
        text_fingerprint=text_fingerprint(text) if text else "",
        # The work that planned it (a webhook delivery's id, bound by the inbound task): its sending's too.
        correlation_id=correlation_id() if correlation is None else correlation,
    )


def actions_plan_many(actions: Sequence[Action]) -> None:
    """Plan new actions (``action_new``'s) in one ``INSERT``: the batched inbound path (docs/performance.md).

    For work known to be new (a comment stored in the same transaction): a key planned already raises
    ``IntegrityError``, and the caller's transaction, rolled back, is redone one action at a time through
    ``action_plan``. A DM's typing indicator and the dispatchers' wake-up (one, at the earliest due time) are
    planned as ``action_plan`` plans them.
    """
    if not actions:
        return
    now = timezone.now()
    Action.all_workspaces.bulk_create(actions)
    for action in actions:
        _typing_plan(action=action, now=now)
    wake_notify(due=min(action.due_at for action in actions))
    for action in actions:
        # Each line under the work that planned its action (a batch plans for many deliveries at once).
        with correlation_bind(
            correlation_id=action.correlation_id, workspace_id=action.workspace_id, account_id=action.account_id
        ):
            _planned_log(action)


def _planned_log(action: Action) -> None:
    logger.info(
        "Planned action %s (%s), due %s",
        action.pk,
        action.action_type,
        action.due_at,
        extra={"action_id": action.pk, "action_type": action.action_type},
    )


def _typing_plan(*, action: Action, now: datetime) -> None:
    """A typing indicator shortly before an automated DM (``safety.timing``), as its own ledger action."""
    lead = typing_lead()
    recipient = action.payload.get("recipient_id")
    if action.action_type != ActionType.DM or not lead or not recipient or action.payload.get("sent_by"):
        return
    typing = Action.all_workspaces.create(
        workspace_id=action.workspace_id,
        account_id=action.account_id,
        action_type=ActionType.SENDER_ACTION,
        idempotency_key=f"{action.idempotency_key}:typing"[:200],
        payload={"recipient_id": recipient, "sender_action": "typing_on", "before_action": action.pk},
        due_at=max(now, action.due_at - lead),
        source_kind="typing",
        source_id=str(action.pk),
        correlation_id=action.correlation_id,
    )
    wake_notify(due=typing.due_at)


def action_record_decision(
    *, action: Action, verdict: str, reason: str, until: datetime | None = None
) -> ActionDecision:
    """Record a verdict on ``action``; its reason (which may quote an error) is stored redacted."""
    return ActionDecision.all_workspaces.create(
        workspace_id=action.workspace_id,
        action=action,
        verdict=verdict,
        reason=secrets_redact(reason)[:500],
        until=until,
    )


@dataclass(frozen=True)
class Outcome:
    """What became of a sent action, to record on the ledger (``actions_finish``)."""

    action_id: int
    state: str
    result: dict[str, Any]
    reason: str = ""
    finished_at: datetime = field(default_factory=timezone.now)


def action_finish(*, action_id: int, state: str, result: dict[str, Any], reason: str = "") -> None:
    """Record the outcome of a sent action. Only an action still marked as sending is changed."""
    actions_finish([Outcome(action_id=action_id, state=state, result=result, reason=reason)])


# Outcomes written by one statement at most (a dispatcher's senders hand over far fewer at a time).
FINISH_CHUNK = 200


def actions_finish(outcomes: Sequence[Outcome]) -> None:
    """Record outcomes of sent actions: one ``UPDATE`` per ``FINISH_CHUNK``, however different they are.

    Only actions still sending (or unknown, being reconciled) change. Written
    as SQL (an ``UPDATE … FROM`` a ``VALUES`` list, which PostgreSQL and
    SQLite 3.33+ both run) because each dispatcher writes one per call to
    Instagram: building it through the ORM, and ``bulk_update``'s CASE per
    row even more, cost more CPU than running it. Values go through the
    fields' own preparation, so JSON and times are stored as the ORM would.
    """
    meta = Action._meta
    result_field, finished_field = meta.get_field("result"), meta.get_field("finished_at")
    table = meta.db_table
    for start in range(0, len(outcomes), FINISH_CHUNK):
        chunk = outcomes[start : start + FINISH_CHUNK]
        params: list[Any] = []
        for outcome in chunk:
            # A failure's result and reason quote an error: stored redacted (a success's result is Meta's ids).
            result = outcome.result if outcome.state == ActionState.SUCCEEDED else value_redact(outcome.result)
            params += [
                outcome.action_id,
                outcome.state,
                result_field.get_db_prep_save(result, connection),
                secrets_redact(outcome.reason)[:500],
                finished_field.get_db_prep_save(outcome.finished_at, connection),
            ]
        rows = ", ".join(["(%s, %s, %s, %s, %s)"] * len(chunk))
        # The table's name comes from the model and every value is a parameter.
        sql = (
            f"WITH outcome (id, state, result, reason, finished) AS (VALUES {rows}) "  # noqa: S608
            f"UPDATE {table} SET state = outcome.state, result = outcome.result, last_reason = outcome.reason, "
            f"finished_at = outcome.finished, lease_until = NULL "
            f"FROM outcome WHERE {table}.id = outcome.id AND {table}.state IN (%s, %s)"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, ActionState.SENDING, ActionState.UNKNOWN])
