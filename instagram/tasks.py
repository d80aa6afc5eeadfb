"""django-q2 tasks of the Meta boundary: thin, idempotent, by id."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from accounts.models import AccountState
from accounts.tenancy import workspace_scope
from instaforge.correlation import correlation_bind
from instagram.backfill import accounts_backfill
from instagram.events import handler_for
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import MalformedEvent
from instagram.services import inbound_event_claim, inbound_event_finish, inbound_event_sweep
from observability.metrics import INBOUND_LAG

logger = logging.getLogger(__name__)


def inbound_event_process(event_id: int) -> str:
    """Hand one stored event to the app that handles its field. Safe to run twice."""
    event = inbound_event_claim(event_id=event_id)
    if event is None:
        return "already taken"
    # The delivery's correlation id (a new one for an event stored without), with the event's workspace and
    # account: on every line written while it is handled, and kept by the actions its handler plans.
    with correlation_bind(
        correlation_id=event.correlation_id, workspace_id=event.workspace_id, account_id=event.account_id
    ):
        outcome = _inbound_event_handle(event)
        INBOUND_LAG.observe(max(0.0, (timezone.now() - event.received_at).total_seconds()))
        logger.info("Inbound event %s (%s): %s", event.pk, event.field, outcome)
        return outcome


def _inbound_event_handle(event: InboundEvent) -> str:
    if event.account is None or event.workspace_id is None:
        inbound_event_finish(
            event=event, state=InboundEventState.IGNORED, outcome="no connected account has this Instagram id"
        )
        return "ignored"
    if event.account.state == AccountState.INACTIVE:
        # Disconnected (by its owner, or the app removed on Instagram): nothing is stored or answered for it.
        inbound_event_finish(
            event=event,
            state=InboundEventState.IGNORED,
            outcome="the account is disconnected: nothing is stored or answered for it",
        )
        return "ignored"
    handler = handler_for(event.field)
    if handler is None:
        inbound_event_finish(
            event=event, state=InboundEventState.IGNORED, outcome=f"no handler for the field {event.field!r} yet"
        )
        return "ignored"
    try:
        with workspace_scope(event.workspace_id):
            result = handler(event)
    except MalformedEvent as exc:
        # Retrying cannot help: the payload lacks Meta's ids. Kept, marked, not retried.
        inbound_event_finish(event=event, state=InboundEventState.FAILED, outcome=f"malformed: {exc}")
        return "malformed"
    except Exception as exc:
        logger.exception("Processing inbound event %s failed", event.pk)
        inbound_event_finish(event=event, state=InboundEventState.FAILED, outcome=f"{type(exc).__name__}: {exc}")
        raise
    inbound_event_finish(event=event, state=result.state, outcome=result.outcome)
    return result.outcome


def inbound_events_process(event_ids: list[int]) -> dict[str, int]:
    """Process the events of one delivery. One failing event does not stop the others; it stays for the sweeper."""
    outcomes: dict[str, int] = {}
    for event_id in event_ids:
        try:
            outcome = inbound_event_process(event_id)
        except Exception:  # already logged and recorded on the event
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def inbound_events_sweep() -> int:
    return inbound_event_sweep(older_than_seconds=settings.INBOUND_SWEEP_AFTER_SECONDS)


def missed_webhooks_backfill() -> dict[str, int]:
    """Every 10 minutes: recent comments and conversations the webhooks missed (one correlation id per run)."""
    with correlation_bind(fresh=True):
        return accounts_backfill()
