"""Recovery: claims of dead dispatchers released, and actions whose outcome is unknown reconciled against Instagram."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from accounts.vault import TokenDecryptionError
from actions.dispatcher.claim import lease_from
from actions.executor import action_reconcile
from actions.models import Action, ActionState, Verdict
from actions.services import action_finish, action_record_decision
from instaforge.correlation import correlation_bind
from instagram.errors import GraphAPIError
from observability.metrics import ACTIONS

logger = logging.getLogger(__name__)


def leases_recover(*, now: datetime) -> tuple[int, int]:
    """Release the claims of dead dispatchers.

    A claim that never sent returns to planned; one that was sending becomes unknown.
    """
    released = Action.all_workspaces.filter(state=ActionState.CLAIMED, lease_until__lt=now).update(
        state=ActionState.PLANNED, claimed_by="", lease_until=None
    )
    unknown = Action.all_workspaces.filter(state=ActionState.SENDING, lease_until__lt=now).update(
        state=ActionState.UNKNOWN, lease_until=None, last_reason="the dispatcher stopped while sending"
    )
    return released, unknown


def actions_reconcile_unknown(*, worker_id: str, now: datetime, limit: int = 10) -> int:
    """Ask Instagram what became of actions whose outcome is unknown; resend only what is confirmed missing."""
    done = 0
    candidates = Action.all_workspaces.filter(state=ActionState.UNKNOWN).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    for action_id in candidates.values_list("pk", flat=True)[:limit]:
        taken = (
            Action.all_workspaces.filter(pk=action_id, state=ActionState.UNKNOWN)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(claimed_by=worker_id, lease_until=lease_from(now))
        )
        if not taken:
            continue
        action = Action.all_workspaces.select_related("account").get(pk=action_id)
        # The action's correlation id and ids on the reconciling lines, the Graph client's included.
        with correlation_bind(
            correlation_id=action.correlation_id,
            workspace_id=action.workspace_id,
            account_id=action.account_id,
            action_id=action.pk,
        ):
            try:
                found = action_reconcile(action=action)
            except (GraphAPIError, TokenDecryptionError) as exc:
                logger.warning("Reconciling action %s failed, will try again: %s", action_id, exc)
                continue
            logger.info(
                "Action %s reconciled: Instagram shows it %s", action_id, "sent" if found.happened else "not sent"
            )
        if found.happened:
            action_finish(
                action_id=action_id,
                state=ActionState.SUCCEEDED,
                result=found.result,
                reason="reconciled: Instagram shows it was sent",
            )
            ACTIONS.labels(type=action.action_type, outcome="reconciled_sent").inc()
        else:
            with transaction.atomic():
                reason = "reconciled: Instagram shows it was not sent; sending again"
                action_record_decision(action=action, verdict=Verdict.DEFER, reason=reason, until=now)
                Action.all_workspaces.filter(pk=action_id, state=ActionState.UNKNOWN).update(
                    state=ActionState.PLANNED, due_at=now, claimed_by="", lease_until=None, last_reason=reason
                )
            ACTIONS.labels(type=action.action_type, outcome="reconciled_not_sent").inc()
        done += 1
    return done
