"""django-q2 tasks of the Meta boundary: thin, idempotent, by id."""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from accounts.models import AccountState
from accounts.tenancy import workspace_scope
from instaforge.batching import batch_reads
from instaforge.correlation import correlation_bind
from instaforge.tasks import coalesced_flag_clear, enqueue_coalesced
from instagram.backfill import accounts_backfill
from instagram.events import HandlerResult, batch_handler_for, handler_for
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import MalformedEvent
from instagram.services import INBOUND_FLAG, EventEnd, inbound_event_sweep, inbound_events_claim, inbound_events_finish
from observability.metrics import INBOUND_LAG

logger = logging.getLogger(__name__)


def inbound_event_process(event_id: int) -> str:
    """Hand one stored event, and no other, to the app that handles its field. Safe to run twice."""
    claimed = inbound_events_claim(event_ids=[event_id], limit=1)
    if not claimed:
        return "already taken"
    end = _event_handle_bound(claimed[0], None)
    inbound_events_finish([end])
    return end.outcome


def _event_handle_bound(event: InboundEvent, result: HandlerResult | None) -> EventEnd:
    """How ``event`` ended: ``result`` if a batch handler handled it, else its field's handler's; measured, logged.

    Under the delivery's correlation id (a new one for an event stored without), with the event's workspace and
    account: on every line written while it is handled, and kept by the actions its handler plans.
    """
    with correlation_bind(
        correlation_id=event.correlation_id, workspace_id=event.workspace_id, account_id=event.account_id
    ):
        end = _ended(event, result) if result is not None else _inbound_event_handle(event)
        INBOUND_LAG.observe(max(0.0, (timezone.now() - event.received_at).total_seconds()))
        logger.info("Inbound event %s (%s): %s", event.pk, event.field, end.outcome)
        return end


def _inbound_event_handle(event: InboundEvent) -> EventEnd:
    """Hand one claimed event to the app that handles its field; how it ended (recorded by the caller)."""
    if event.account is None or event.workspace_id is None:
        return EventEnd(event.pk, InboundEventState.IGNORED, "no connected account has this Instagram id")
    if event.account.state == AccountState.INACTIVE:
        # Disconnected (by its owner, or the app removed on Instagram): nothing is stored or answered for it.
        return EventEnd(
            event.pk, InboundEventState.IGNORED, "the account is disconnected: nothing is stored or answered for it"
        )
    handler = handler_for(event.field)
    if handler is None:
        return EventEnd(event.pk, InboundEventState.IGNORED, f"no handler for the field {event.field!r} yet")
    try:
        with workspace_scope(event.workspace_id):
            result = handler(event)
    except MalformedEvent as exc:
        # Retrying cannot help: the payload lacks Meta's ids. Kept, marked, not retried.
        return EventEnd(event.pk, InboundEventState.FAILED, f"malformed: {exc}")
    except Exception as exc:
        logger.exception("Processing inbound event %s failed", event.pk)
        return EventEnd(event.pk, InboundEventState.FAILED, f"{type(exc).__name__}: {exc}")
    return _ended(event, result)


def inbound_events_process(event_ids: list[int]) -> dict[str, int]:
    """Process the events of one delivery, and with them the others waiting: the batched inbound path.

    Up to ``INBOUND_BATCH_SIZE`` events are claimed in one statement (the delivery's first, then the oldest
    waiting), the events of a field with a batch handler are handled together (comments: one transaction and a
    few statements per account), the rest one by one, and how each ended is written in one statement at the
    end. An event already taken by another task is not taken again; one failing event does not stop the others
    (it is recorded as failed). A full batch means more may be waiting: another task is enqueued for them.
    """
    coalesced_flag_clear(INBOUND_FLAG)
    limit = settings.INBOUND_BATCH_SIZE
    events = inbound_events_claim(event_ids=event_ids, limit=limit)
    ends: list[EventEnd] = []
    try:
        # The configuration the events read (rules, settings, endpoints): once for the batch (instaforge.batching).
        with batch_reads():
            _events_handle(events, ends)
    finally:
        # Those handled are recorded even if one raised something unexpected; the others stay for the sweeper.
        inbound_events_finish(ends)
    if len(events) >= limit:
        enqueue_coalesced("instagram.tasks.inbound_events_process", [], flag=INBOUND_FLAG)
    outcomes: dict[str, int] = {}
    for end in ends:
        outcome = "failed" if end.state == InboundEventState.FAILED else end.outcome
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if len(events) < len(set(event_ids)):
        outcomes["already taken"] = len(set(event_ids)) - len({event.pk for event in events} & set(event_ids))
    return outcomes


def _events_handle(events: list[InboundEvent], ends: list[EventEnd]) -> None:
    """Handle claimed events: those of a field with a batch handler together, the others one by one; each one's
    end is appended to ``ends`` as soon as it is known."""
    handled = _batches_handle(events)
    for event in events:
        ends.append(_event_handle_bound(event, handled.get(event.pk)))


def _ended(event: InboundEvent, result: HandlerResult) -> EventEnd:
    return EventEnd(event_id=event.pk, state=result.state, outcome=result.outcome)


def _batches_handle(events: list[InboundEvent]) -> dict[int, HandlerResult]:
    """The events of each field that has a batch handler, handled together; {event id: result} of those handled.

    Only events routed to an active account reach a batch handler (the others are ignored one by one, as
    before). A batch handler that fails leaves its events to be handled one by one.
    """
    by_field: dict[str, list[InboundEvent]] = {}
    for event in events:
        active = event.account is not None and event.account.state != AccountState.INACTIVE
        if active and event.workspace_id is not None and batch_handler_for(event.field) is not None:
            by_field.setdefault(event.field, []).append(event)
    handled: dict[int, HandlerResult] = {}
    for field, batch in by_field.items():
        handler = batch_handler_for(field)
        assert handler is not None
        try:
            handled.update(handler(batch))
        except Exception:
            logger.exception("Handling %d %s events together failed: handling them one by one", len(batch), field)
    return handled


def inbound_events_sweep() -> int:
    return inbound_event_sweep(older_than_seconds=settings.INBOUND_SWEEP_AFTER_SECONDS)


def missed_webhooks_backfill() -> dict[str, int]:
    """Every 10 minutes: recent comments and conversations the webhooks missed (one correlation id per run)."""
    with correlation_bind(fresh=True):
        return accounts_backfill()
