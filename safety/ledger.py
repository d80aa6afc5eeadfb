"""What the gate counts on the ledger, written once as data and read in one statement per round.

A ``Tally`` says which of an account's recent actions to count (or whose
latest start to find): since when, of which action types, with which text
fingerprint, to which person, audio or video only; and whether to count
actions or units of them (``units``: the media containers of publishing steps). The gate, the per-person
cooldowns and the pattern detector each describe theirs; ``ledger_tallies``
reads every tally of every action of a dispatcher's round in one
``UNION ALL`` statement (one branch per action: a plain aggregate over that
account's rows, so every branch answers with exactly one row).

Why SQL written here rather than ORM aggregates: the statement's shape is
fixed and simple, and building it through the ORM (a filtered aggregate per
tally, a queryset per action, a union) cost the dispatcher more CPU than the
database spent answering it. ``Tally.condition()`` gives the same rows as a
``Q`` for the follow-up queries that run only when a limit is reached (when
does the window free a slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from actions.models import NOT_CONTENT_TYPES, Action
from safety.policies import AUDIO_VIDEO


@dataclass(frozen=True)
class Tally:
    """A count of an account's actions started since ``since`` that match, or (``latest``) the last one's start."""

    since: datetime | None = None  # None: as far back as the whole read looks
    types: frozenset[str] | None = None  # only these action types
    content_only: bool = False  # not typing indicators or ice breakers
    fingerprint: str = ""  # only this normalised text (``Action.text_fingerprint``)
    counterpart: str = ""  # only answers to this person (``Action.counterpart_id``)
    audio_video: bool = False  # only messages with an audio or video attachment
    latest: bool = False
    # Sum this integer of each action (its result's, else its payload's, else 0: ``actions.specs.LimitUse``)
    # instead of counting actions.
    units: str = ""

    def condition(self) -> Q:
        """The rows this tally reads, for the ORM."""
        condition = Q()
        if self.since is not None:
            condition &= Q(started_at__gte=self.since)
        if self.types is not None:
            condition &= Q(action_type__in=sorted(self.types))
        if self.content_only:
            condition &= ~Q(action_type__in=sorted(NOT_CONTENT_TYPES))
        if self.fingerprint:
            condition &= Q(text_fingerprint=self.fingerprint)
        if self.counterpart:
            condition &= Q(counterpart_id=self.counterpart)
        if self.audio_video:
            condition &= Q(payload__message__attachment__type__in=sorted(AUDIO_VIDEO))
        return condition

    def _sql(self, params: list[Any]) -> str:
        """The same condition in SQL over ``actions_action``, its parameters appended to ``params``."""
        terms = []
        if self.since is not None:
            terms.append("started_at >= %s")
            params.append(connection.ops.adapt_datetimefield_value(self.since))
        for values, negated in ((self.types, False), (NOT_CONTENT_TYPES if self.content_only else None, True)):
            if values is not None:
                terms.append(f"action_type {'NOT IN' if negated else 'IN'} ({', '.join(['%s'] * len(values))})")
                params.extend(sorted(values))
        if self.fingerprint:
            terms.append("text_fingerprint = %s")
            params.append(self.fingerprint)
        if self.counterpart:
            terms.append("counterpart_id = %s")
            params.append(self.counterpart)
        if self.audio_video:
            terms.append(f"{_ATTACHMENT_TYPE[connection.vendor]} IN ({', '.join(['%s'] * len(AUDIO_VIDEO))})")
            params.extend(sorted(AUDIO_VIDEO))
        return " AND ".join(terms) or "1 = 1"

    def _aggregate_sql(self, params: list[Any]) -> str:
        """The count (or the sum of units, or the latest start) over the rows of this tally, in SQL."""
        if self.latest:
            return f"MAX(CASE WHEN {self._sql(params)} THEN started_at END)"
        if not self.units:
            return f"COUNT(CASE WHEN {self._sql(params)} THEN 1 END)"
        condition = self._sql(params)
        path = _JSON_KEY[connection.vendor](self.units)
        params += [path, path]
        units = f"COALESCE(CAST({_JSON_TEXT[connection.vendor].format('result')} AS INTEGER), "
        units += f"CAST({_JSON_TEXT[connection.vendor].format('payload')} AS INTEGER), 0)"
        return f"COALESCE(SUM(CASE WHEN {condition} THEN {units} END), 0)"


# The attachment type of a message payload, as text, in each database's JSON syntax.
_ATTACHMENT_TYPE = {
    "postgresql": "(payload -> 'message' -> 'attachment' ->> 'type')",
    "sqlite": "json_extract(payload, '$.message.attachment.type')",
}
# A top-level key of a JSON column (the key a parameter), and the parameter for a key.
_JSON_TEXT = {"postgresql": "({} ->> %s)", "sqlite": "json_extract({}, %s)"}
_JSON_KEY = {"postgresql": lambda key: key, "sqlite": lambda key: f'$."{key}"'}


@dataclass(frozen=True)
class LedgerRead:
    """The tallies to read for one action: over its account's other actions started since ``since``."""

    account_id: int
    action_id: int  # the action asking, which does not count itself
    since: datetime
    tallies: dict[str, Tally]


def ledger_tallies(reads: Sequence[LedgerRead]) -> list[dict[str, Any]]:
    """Each read's tallies by name (counts, or the latest start or None): one statement for all of them.

    Counts and latest starts sit in columns of their own, padded to the widest
    read, so that every branch of the ``UNION ALL`` has the same columns.
    """
    if not reads:
        return []
    latest = [[name for name, tally in read.tallies.items() if tally.latest] for read in reads]
    counted = [[name for name, tally in read.tallies.items() if not tally.latest] for read in reads]
    count_width, latest_width = max(map(len, counted)), max(map(len, latest))
    no_time = f"CAST(NULL AS {connection.data_types['DateTimeField']})"
    table = Action._meta.db_table
    params: list[Any] = []
    branches = []
    for index, read in enumerate(reads):
        columns = [str(index)]
        for names, width, padding in ((counted[index], count_width, "0"), (latest[index], latest_width, no_time)):
            columns += [read.tallies[name]._aggregate_sql(params) for name in names]
            columns += [padding] * (width - len(names))
        # The table's name and the columns come from this module; every value is a parameter.
        where = "account_id = %s AND id <> %s AND started_at >= %s"
        branches.append(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}")  # noqa: S608
        params += [read.account_id, read.action_id, connection.ops.adapt_datetimefield_value(read.since)]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(branches), params)
        found = {row[0]: row for row in cursor.fetchall()}
    results = []
    for index in range(len(reads)):
        row = found[index]
        values = {name: row[1 + column] for column, name in enumerate(counted[index])}
        values |= {name: _as_time(row[1 + count_width + column]) for column, name in enumerate(latest[index])}
        results.append(values)
    return results


def _as_time(value: Any) -> datetime | None:
    """A latest start as an aware datetime (SQLite answers with text in UTC)."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a time: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
