"""Storing what Meta's webhooks deliver, once, and handing it on."""

from __future__ import annotations

import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramAccount
from instaforge.tasks import broker_joins_transactions, enqueue_on_commit, enqueue_with_commit
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import dedupe_key_for

logger = logging.getLogger(__name__)


MAX_PROCESSING_ATTEMPTS = 5


# Fields whose value Meta documents as an object; unknown fields are kept whatever their value.
KNOWN_CHANGE_FIELDS = frozenset({"comments", "live_comments", "mentions", "story_insights", "messages"})


class MalformedDelivery(ValueError):
    """The body is not a webhook delivery Meta would send."""


@dataclass(frozen=True)
class ParsedChange:
    dedupe_key: str
    object_type: str
    field: str
    entry_id: str
    entry_time: datetime | None
    payload: dict[str, Any]


def _entry_time(raw: Any) -> datetime | None:
    if not isinstance(raw, int | float):
        return None
    # Meta sends seconds; some fields send milliseconds.
    seconds = raw / 1000 if raw > 10**11 else raw
    return datetime.fromtimestamp(seconds, tz=UTC)


def webhook_parse(*, body: bytes) -> list[ParsedChange]:
    """Split a delivery into its changes. Raises ``MalformedDelivery``.

    Unknown fields are kept (stored and counted, not processed).
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery("The body is not JSON.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise MalformedDelivery("The body has no entry list.")
    object_type = str(document.get("object", ""))
    changes: list[ParsedChange] = []
    for entry in document["entry"]:
        if not isinstance(entry, dict):
            raise MalformedDelivery("An entry is not an object.")
        entry_id = str(entry.get("id", ""))
        entry_time = _entry_time(entry.get("time"))
        raw_changes = entry.get("changes")
        if raw_changes is None and "field" in entry:
            # The Instagram Login reference shows field/value directly on the entry.
            raw_changes = [{"field": entry["field"], "value": entry.get("value")}]
        for change in raw_changes or []:
            if not isinstance(change, dict) or "value" not in change:
                raise MalformedDelivery("A change has no value.")
            field = str(change.get("field", ""))
            if field in KNOWN_CHANGE_FIELDS and not isinstance(change["value"], dict):
                raise MalformedDelivery(f"A {field} change has no value object.")
            key = dedupe_key_for(field=field, entry_id=entry_id, payload=change)
            changes.append(ParsedChange(key, object_type, field, entry_id, entry_time, change))
        # "messaging" holds messages, reactions, postbacks…; "standby" the same for a thread another app controls.
        for list_name in ("messaging", "standby"):
            for item in entry.get(list_name, []) or []:
                if not isinstance(item, dict):
                    raise MalformedDelivery(f"A {list_name} item is not an object.")
                key = dedupe_key_for(field=list_name, entry_id=entry_id, payload=item)
                changes.append(ParsedChange(key, object_type, list_name, entry_id, entry_time, item))
    return changes


@dataclass(frozen=True)
class StoreSummary:
    created: int
    redelivered: int
    stale: int


def webhook_store(*, changes: list[ParsedChange], count_redeliveries: bool = True) -> StoreSummary:
    """Store each change once (one statement), and enqueue the new ones.

    A change Meta delivers again only bumps its ``deliveries`` counter. A
    change older than Meta's retry horizon is logged and skipped. With the
    ORM broker the task messages commit with the events in one transaction;
    with Redis the message follows the commit (the sweeper covers a crash in
    between). Either way a 2xx is only sent once the events are durable.
    """
    horizon = timezone.now() - timedelta(hours=settings.INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS)
    fresh: dict[str, ParsedChange] = {}
    stale = 0
    for change in changes:
        if change.entry_time is not None and change.entry_time < horizon:
            stale += 1
            logger.warning(
                "Ignored %s change %s from %s: older than the retry horizon",
                change.field,
                change.dedupe_key,
                change.entry_time,
            )
            continue
        fresh.setdefault(change.dedupe_key, change)
    if not fresh:
        return StoreSummary(created=0, redelivered=0, stale=stale)

    now = timezone.now()
    rows = [
        {
            "dedupe_key": key,
            "object_type": change.object_type,
            "field": change.field,
            "entry_id": change.entry_id,
            "entry_time": change.entry_time,
            "payload": change.payload,
            "state": InboundEventState.PENDING,
            "received_at": now,
            "deliveries": 1,
            "attempts": 0,
            "outcome": "",
        }
        for key, change in fresh.items()
    ]
    # With Redis the upsert is one statement, atomic by itself: outside a transaction it commits as it
    # returns (no BEGIN / COMMIT round trips) and the broker is told after that commit. The events are
    # durable then: a broker that fails is logged and the sweeper enqueues them; Meta gets its 200.
    with transaction.atomic() if broker_joins_transactions() else nullcontext():
        stored = _events_upsert(rows, count_redeliveries=count_redeliveries)
        created = [event_id for event_id, deliveries in stored if deliveries == 1]
        if created:
            enqueue_with_commit("instagram.tasks.inbound_events_process", created, robust=True)
    return StoreSummary(created=len(created), redelivered=len(stored) - len(created), stale=stale)


def _events_upsert(rows: list[dict[str, Any]], *, count_redeliveries: bool = True) -> list[tuple[int, int]]:
    """Route, insert the events, or count one more delivery of those already stored, in one statement.

    Each row is routed to its workspace and account by the entry's Instagram
    user id, by two indexed sub-selects in the same statement (no round trip
    of its own); an entry no account of ours matches is kept, unrouted.
    ``INSERT … ON CONFLICT (dedupe_key) DO UPDATE … RETURNING`` (PostgreSQL and
    SQLite ≥ 3.35) is atomic under concurrent deliveries of the same change:
    exactly one of them inserts the row (and sees ``deliveries == 1``).
    Returns (id, deliveries) per row; without ``count_redeliveries`` (the
    backfill, which is not a delivery) known rows are left alone and not returned.
    """
    meta = InboundEvent._meta
    columns = list(rows[0])
    fields: list[models.Field[Any, Any]] = []
    for column in columns:
        field = meta.get_field(column)
        assert isinstance(field, models.Field)
        fields.append(field)
    quote = connection.ops.quote_name
    accounts = quote(InstagramAccount._meta.db_table)
    # Only quoted names from the models' own metadata are formatted in; every value is a parameter.
    placeholders = ", ".join(["%s"] * len(columns))
    workspace_of = f"(SELECT {quote('workspace_id')} FROM {accounts} WHERE ig_user_id = %s)"  # noqa: S608
    account_of = f"(SELECT {quote('id')} FROM {accounts} WHERE ig_user_id = %s)"  # noqa: S608
    routed = f"({placeholders}, {workspace_of}, {account_of})"
    unrouted = f"({placeholders}, NULL, NULL)"
    values: list[str] = []
    params: list[Any] = []
    for row in rows:
        params.extend(
            field.get_db_prep_save(row[column], connection) for column, field in zip(columns, fields, strict=True)
        )
        if row["entry_id"]:  # an empty id would match the accounts not yet connected
            values.append(routed)
            params += [row["entry_id"], row["entry_id"]]
        else:
            values.append(unrouted)
    table = quote(meta.db_table)
    names = ", ".join(quote(column) for column in [*columns, "workspace_id", "account_id"])
    on_conflict = f"DO UPDATE SET deliveries = {table}.deliveries + 1" if count_redeliveries else "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({names}) "  # noqa: S608
        f"VALUES {', '.join(values)} "
        f"ON CONFLICT (dedupe_key) {on_conflict} RETURNING id, deliveries"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(event_id), int(deliveries)) for event_id, deliveries in cursor.fetchall()]


def inbound_event_claim(*, event_id: int) -> InboundEvent | None:
    """Take a pending event for processing; None if someone else has it or it is done."""
    claimed = InboundEvent.objects.filter(pk=event_id, state=InboundEventState.PENDING).update(
        state=InboundEventState.PROCESSING, attempts=F("attempts") + 1, processing_since=timezone.now()
    )
    if not claimed:
        return None
    return InboundEvent.objects.select_related("account").get(pk=event_id)


def inbound_event_finish(*, event: InboundEvent, state: str, outcome: str) -> None:
    InboundEvent.objects.filter(pk=event.pk).update(state=state, outcome=outcome[:500], processed_at=timezone.now())


def inbound_event_sweep(*, older_than_seconds: int) -> int:
    """Re-enqueue events still pending (a lost broker message) or stuck processing (a dead worker).

    Processing is idempotent, so an event taken twice makes no second reply.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    InboundEvent.objects.filter(
        state=InboundEventState.PROCESSING, processing_since__lt=cutoff, attempts__lt=MAX_PROCESSING_ATTEMPTS
    ).update(state=InboundEventState.PENDING)
    pending = list(
        InboundEvent.objects.filter(state=InboundEventState.PENDING, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    if pending:
        enqueue_on_commit("instagram.tasks.inbound_events_process", pending)
        logger.info("Sweeper re-enqueued %d inbound events", len(pending))
    return len(pending)
