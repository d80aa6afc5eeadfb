"""Writes on the action ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.models import Action, ActionDecision, ActionState


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
    """
    existing = Action.all_workspaces.filter(account=account, idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            action = Action.all_workspaces.create(
                workspace_id=account.workspace_id,
                account=account,
                action_type=action_type,
                idempotency_key=idempotency_key,
                payload=payload,
                due_at=due_at or timezone.now(),
                source_kind=source_kind,
                source_id=source_id,
            )
    except IntegrityError:
        return Action.all_workspaces.get(account=account, idempotency_key=idempotency_key), False
    return action, True


def action_record_decision(
    *, action: Action, verdict: str, reason: str, until: datetime | None = None
) -> ActionDecision:
    return ActionDecision.all_workspaces.create(
        workspace_id=action.workspace_id, action=action, verdict=verdict, reason=reason[:500], until=until
    )


def action_finish(*, action_id: int, state: str, result: dict[str, Any], reason: str = "") -> None:
    """Record the outcome of a sent action. Only an action still marked as sending is changed."""
    Action.all_workspaces.filter(pk=action_id, state__in=[ActionState.SENDING, ActionState.UNKNOWN]).update(
        state=state, result=result, last_reason=reason[:500], finished_at=timezone.now(), lease_until=None
    )
