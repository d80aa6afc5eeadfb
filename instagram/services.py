"""Storing what Meta's webhooks deliver, once, and handing it on."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import InstagramAccount
from instaforge.correlation import correlation_id
from instaforge.redaction import secrets_redact
from instaforge.tasks import broker_joins_transactions, enqueue_coalesced, enqueue_on_commit
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import dedupe_key_for, meta_time_parse

logger = logging.getLogger(__name__)


MAX_PROCESSING_ATTEMPTS = 5
# The flag of a queued inbound task that has not started yet (``instaforge.tasks.enqueue_coalesced``).
INBOUND_FLAG = "inbound"


# Fields whose value Meta documents as an object; unknown fields are kept whatever their value.
KNOWN_CHANGE_FIELDS = frozenset({"comments", "live_comments", "mentions", "story_insights", "messages"})

# Meta's payloads nest about 7 levels deep. Far deeper is not Meta's, and would make json and the
# digests of the dedupe keys recurse (RecursionError) if it were let through.
MAX_NESTING_DEPTH = 32
# Used when DATA_UPLOAD_MAX_MEMORY_SIZE is None; Django checks that limit only when a Content-Length is sent.
DEFAULT_MAX_DELIVERY_BYTES = 2_621_440
# The columns every stored change goes into; a longer value is refused, never cut (it would no longer be Meta's id).
OBJECT_TYPE_MAX_LENGTH = InboundEvent._meta.get_field("object_type").max_length or 40
FIELD_MAX_LENGTH = InboundEvent._meta.get_field("field").max_length or 60
ENTRY_ID_MAX_LENGTH = InboundEvent._meta.get_field("entry_id").max_length or 64
# Rows per INSERT: well under SQLite's and PostgreSQL's limits on the parameters of one statement.
UPSERT_BATCH_ROWS = 500
# Strict JSON refuses raw control characters and UTF-8 cannot hold a surrogate, so a NUL or a lone surrogate
# can only reach a decoded string through an escape: ``\u0000``, or a high-surrogate escape not followed by a
# low one, or a low one not preceded by a high one. A body without any of them needs no walk of its strings
# (an escaped backslash before "u" can only make this find too much, never too little).
_UNSTORABLE_ESCAPE = re.compile(
    r"\\u(?:0000"
    r"|[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2}\\u)[dD][c-fC-F][0-9a-fA-F]{2})"
)


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


class _Skip(ValueError):
    """One entry, change or messaging item of a delivery that cannot be stored; the others still are."""


def _refuse_constant(name: str) -> Any:
    raise MalformedDelivery(f"The body uses {name}, which is not JSON.")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e309 reads as infinity
        raise MalformedDelivery("The body has a number too big for a float.")
    return number


def _nesting_depth_exceeds(document: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` (iterative: no recursion to run out of)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _webhook_decode(body: bytes) -> tuple[Any, str]:
    """The JSON document of a delivery and its text. Raises ``MalformedDelivery``, never anything else.

    Refused: a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, bytes that are not
    UTF-8, NaN and ±Infinity (Python's json reads them, RFC 8259 and PostgreSQL
    do not), numbers no float holds, integers of more digits than Python
    converts, and nesting deeper than ``MAX_NESTING_DEPTH``.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or DEFAULT_MAX_DELIVERY_BYTES
    if len(body) > limit:
        raise MalformedDelivery(f"The body is larger than {limit} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedDelivery("The body is not UTF-8.") from exc
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except MalformedDelivery:
        raise
    except RecursionError as exc:  # json's C scanner recurses once per level of nesting
        raise MalformedDelivery("The body is nested too deeply.") from exc
    except ValueError as exc:  # not JSON; or an integer past sys.get_int_max_str_digits()
        raise MalformedDelivery("The body is not JSON.") from exc
    # Nesting is at most the number of brackets: Meta's deliveries have far fewer than the limit, so the
    # walk runs only for bodies that could be too deep.
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_NESTING_DEPTH and _nesting_depth_exceeds(document, MAX_NESTING_DEPTH):
        raise MalformedDelivery("The body is nested too deeply.")
    return document, text


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character, which PostgreSQL cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate, which is no character"
    return None


def _unstorable(value: Any) -> str | None:
    """Why ``value`` (its keys and strings, all the way down) cannot be stored, or None when it can."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            problem = _text_problem(current)
            if problem:
                return problem
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


def _short_text(value: Any, *, name: str, max_length: int, numbers: bool = False) -> str:
    """A string (or, with ``numbers``, a non-negative integer: Meta sends some ids unquoted) that fits its column."""
    if numbers and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not value:
        raise _Skip(f"its {name} is not a non-empty string")
    if len(value) > max_length:
        raise _Skip(f"its {name} is longer than {max_length} characters")
    problem = _text_problem(value)
    if problem:
        raise _Skip(f"its {name} has {problem}")
    return value


def _entry_time(raw: Any) -> datetime | None:
    """The entry's ``time``: absent is None; present, it must be a time Meta could have sent."""
    if raw is None:
        return None
    moment = meta_time_parse(raw) if isinstance(raw, int | float) else None
    if moment is None:
        raise _Skip("its time is not a Unix time in seconds or milliseconds")
    return moment


def _list_of(entry: dict[str, Any], name: str) -> list[Any]:
    raw = entry.get(name)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _Skip(f"its {name} is not a list")
    return raw


def _change_parse(
    change: Any, *, object_type: str, entry_id: str, entry_time: datetime | None, scan: bool
) -> ParsedChange:
    if not isinstance(change, dict):
        raise _Skip("it is not an object")
    if "value" not in change:
        raise _Skip("it has no value")
    field = _short_text(change.get("field"), name="field", max_length=FIELD_MAX_LENGTH)
    if field in KNOWN_CHANGE_FIELDS and not isinstance(change["value"], dict):
        raise _Skip(f"its {field} value is not an object")
    problem = _unstorable(change) if scan else None
    if problem:
        raise _Skip(f"it has {problem}")
    key = dedupe_key_for(field=field, entry_id=entry_id, payload=change)
    return ParsedChange(key, object_type, field, entry_id, entry_time, change)


def _item_parse(
    item: Any, *, list_name: str, object_type: str, entry_id: str, entry_time: datetime | None, scan: bool
) -> ParsedChange:
    if not isinstance(item, dict):
        raise _Skip("it is not an object")
    problem = _unstorable(item) if scan else None
    if problem:
        raise _Skip(f"it has {problem}")
    key = dedupe_key_for(field=list_name, entry_id=entry_id, payload=item)
    return ParsedChange(key, object_type, list_name, entry_id, entry_time, item)


def _entry_parse(entry: Any, *, object_type: str, where: str, scan: bool) -> list[ParsedChange]:
    """The storable changes of one entry; an entry whose own fields do not fit raises ``_Skip``.

    A change or messaging item that does not fit is logged and left out; the rest of the entry is kept.
    ``scan``: whether the body may hold a NUL or a lone surrogate (``_UNSTORABLE_ESCAPE``), so that every
    string of each change must be looked at.
    """
    if not isinstance(entry, dict):
        raise _Skip("it is not an object")
    entry_id = _short_text(entry.get("id"), name="id", max_length=ENTRY_ID_MAX_LENGTH, numbers=True)
    entry_time = _entry_time(entry.get("time"))
    raw_changes = _list_of(entry, "changes")
    if entry.get("changes") is None and "field" in entry:
        # The Instagram Login reference shows field/value directly on the entry.
        raw_changes = [{"field": entry["field"], "value": entry.get("value")}]
    # "messaging" holds messages, reactions, postbacks…; "standby" the same for a thread another app controls.
    lists = {list_name: _list_of(entry, list_name) for list_name in ("messaging", "standby")}
    changes: list[ParsedChange] = []
    for index, change in enumerate(raw_changes):
        try:
            changes.append(
                _change_parse(change, object_type=object_type, entry_id=entry_id, entry_time=entry_time, scan=scan)
            )
        except _Skip as skip:
            logger.warning("Skipped change %d of webhook %s: %s", index, where, skip)
    for list_name, items in lists.items():
        for index, item in enumerate(items):
            try:
                changes.append(
                    _item_parse(
                        item,
                        list_name=list_name,
                        object_type=object_type,
                        entry_id=entry_id,
                        entry_time=entry_time,
                        scan=scan,
                    )
                )
            except _Skip as skip:
                logger.warning("Skipped %s item %d of webhook %s: %s", list_name, index, where, skip)
    return changes


def webhook_parse(*, body: bytes) -> list[ParsedChange]:
    """Split a delivery into the changes that can be stored. Raises ``MalformedDelivery``, never anything else.

    The body itself must be strict JSON (``_webhook_decode``) holding an object
    with an ``entry`` list and, if any, a short string ``object``: otherwise the
    whole delivery is refused (400). Below that, Meta retries whatever is not
    answered 2xx, and a retry of the same bytes cannot fare better: so an
    entry, change or messaging item that does not fit (a wrong type, an id
    longer than its column, a time Meta cannot have sent, a NUL or a lone
    surrogate anywhere in it) is logged and skipped, and the rest is kept.
    Every change returned fits its ``InboundEvent`` columns on any database.
    Unknown fields are kept (stored and counted, not processed).
    """
    document, text = _webhook_decode(body)
    scan = "\\u" in text and _UNSTORABLE_ESCAPE.search(text) is not None
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise MalformedDelivery("The body has no entry list.")
    object_type = document.get("object", "")
    if not isinstance(object_type, str) or len(object_type) > OBJECT_TYPE_MAX_LENGTH or _text_problem(object_type):
        raise MalformedDelivery("The body's object is not a short string.")
    changes: list[ParsedChange] = []
    for index, entry in enumerate(document["entry"]):
        where = f"entry {index}"
        try:
            changes.extend(_entry_parse(entry, object_type=object_type, where=where, scan=scan))
        except _Skip as skip:
            logger.warning("Skipped webhook %s: %s", where, skip)
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
    delivery_correlation_id = correlation_id()  # the delivery's (the webhook request's), kept by its events
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
            "correlation_id": delivery_correlation_id,
        }
        for key, change in fresh.items()
    ]
    # With Redis the upsert is one statement, atomic by itself: outside a transaction it commits as it
    # returns (no BEGIN / COMMIT round trips) and the broker is told after that commit. The events are
    # durable then: a broker that fails is logged and the sweeper enqueues them; Meta gets its 200.
    # One statement per batch of rows (thousands in one would pass the databases' limits on parameters);
    # several batches share one transaction: all of the delivery is stored, or none.
    one_statement = len(rows) <= UPSERT_BATCH_ROWS
    with transaction.atomic() if broker_joins_transactions() or not one_statement else nullcontext():
        stored = [
            row
            for start in range(0, len(rows), UPSERT_BATCH_ROWS)
            for row in _events_upsert(rows[start : start + UPSERT_BATCH_ROWS], count_redeliveries=count_redeliveries)
        ]
        created = [event_id for event_id, deliveries in stored if deliveries == 1]
        if created:
            # With Redis, one task queued wakes a worker for all the events stored meanwhile (it claims them).
            enqueue_coalesced("instagram.tasks.inbound_events_process", created, flag=INBOUND_FLAG, robust=True)
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


def inbound_events_claim(*, event_ids: Sequence[int], limit: int) -> list[InboundEvent]:
    """Take pending events for processing, many in one statement: ``event_ids``, then the oldest others pending.

    The batched inbound path (docs/performance.md): a task is given the events of one delivery, and takes with
    them up to ``limit`` in all of the events waiting, so that under load one task handles what many deliveries
    stored, with one claim, one read and one finish for all of them. The claim is one ``UPDATE … RETURNING``
    (PostgreSQL: of rows locked ``SKIP LOCKED``, so concurrent workers take different events; SQLite has one
    writer at a time): an event is taken once, whoever asks. Returns the events taken, oldest first, each with
    its account; those another worker has, or that are done, are not among them.
    """
    meta = InboundEvent._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    given = sorted({int(event_id) for event_id in event_ids})
    # The states are written into the statement, not passed as parameters: a prepared statement's generic plan
    # would estimate "state = $1" as half of the table (two states hold nearly every row) and scan all of its
    # history on every claim; the literal lets the planner see how few rows are pending.
    pending, processing = f"'{InboundEventState.PENDING.value}'", f"'{InboundEventState.PROCESSING.value}'"
    # Each part locks its own rows (a locking clause cannot apply to a UNION), then the union is claimed.
    chosen: list[str] = []
    params: list[Any] = []
    if given:
        marks = ", ".join(["%s"] * len(given))
        chosen.append(f"SELECT id FROM {table} WHERE state = {pending} AND id IN ({marks}){skip_locked}")  # noqa: S608
        params += given
    others = max(0, limit - len(given))
    if others:
        besides = f" AND id NOT IN ({', '.join(['%s'] * len(given))})" if given else ""
        waiting = f"SELECT id FROM {table} WHERE state = {pending}{besides} ORDER BY received_at, id LIMIT %s"  # noqa: S608
        chosen.append(waiting + skip_locked)
        params += [*given, others]
    if not chosen:
        return []
    now = meta.get_field("processing_since").get_db_prep_save(timezone.now(), connection)
    union = " UNION ".join(f"SELECT id FROM ({part}) AS part" for part in chosen)  # noqa: S608
    sql = (
        f"UPDATE {table} SET state = {processing}, attempts = attempts + 1, processing_since = %s "  # noqa: S608
        f"WHERE state = {pending} AND id IN ({union}) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *params])
        claimed = [int(row[0]) for row in cursor.fetchall()]
    if not claimed:
        return []
    return list(InboundEvent.objects.filter(pk__in=claimed).select_related("account").order_by("received_at", "id"))


@dataclass(frozen=True)
class EventEnd:
    """How an event's processing ended, for ``inbound_events_finish``."""

    event_id: int
    state: str
    outcome: str


def inbound_events_finish(ends: Sequence[EventEnd]) -> None:
    """Record how each event's processing ended, in one ``UPDATE … FROM (VALUES …)`` per ``UPSERT_BATCH_ROWS``.

    The outcome (often an error's text) is stored redacted.
    """
    table = connection.ops.quote_name(InboundEvent._meta.db_table)
    processed_at = InboundEvent._meta.get_field("processed_at").get_db_prep_save(timezone.now(), connection)
    for start in range(0, len(ends), UPSERT_BATCH_ROWS):
        chunk = ends[start : start + UPSERT_BATCH_ROWS]
        params: list[Any] = []
        for end in chunk:
            params += [end.event_id, end.state, secrets_redact(end.outcome)[:500]]
        rows = ", ".join(["(%s, %s, %s)"] * len(chunk))
        sql = (
            f"WITH ending (id, state, outcome) AS (VALUES {rows}) "  # noqa: S608
            f"UPDATE {table} SET state = ending.state, outcome = ending.outcome, processed_at = %s "
            f"FROM ending WHERE {table}.id = ending.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, processed_at])


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
