"""Paging, search, date ranges and CSV export for the product's list pages (comments, the ledger, the inbox, posts).

The list views read their query string through :func:`list_query_parse`, which never raises on what a browser
or a hostile client sends: a value it cannot use is either dropped (a page number that is not one gives the
first page; a search longer than :data:`SEARCH_MAX_CHARS` is cut) or reported in ``ListQuery.errors`` (a date
that does not exist, a page link that was tampered with), which the view shows on the page with a 400.

Two ways to page, chosen per list:

- :func:`keyset_page` ("Older" / "Newer", by a time and the id) for the tables that grow without bound (the
  ledger, comments): each page is one indexed range read of ``page size + 1`` rows however deep it is, and a row
  arriving between two clicks shifts nothing. It cannot jump to page 40, which nobody does on a log.
- :func:`numbered_page` (Django's ``Paginator``, "page 3 of 12") for the lists a person browses (the inbox,
  posts): they stay in the thousands, so the ``COUNT`` costs little and page numbers are worth it.

:func:`csv_response` streams a CSV (``StreamingHttpResponse`` over an iterator) so an export of a year of the
ledger never sits in memory; :func:`csv_cell` guards each cell against formula injection in spreadsheets.

This module imports no app (``.importlinter``'s helpers contract): the apps pass their querysets and fields in.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import Model, Q, QuerySet
from django.http import QueryDict, StreamingHttpResponse
from django.utils import timezone

ModelT = TypeVar("ModelT", bound=Model)

PAGE_SIZE_DEFAULT = 50
PAGE_SIZE_MAX = 200
# A search longer than this is cut: no username, caption or reason needs more, and the database's LIKE is bounded.
SEARCH_MAX_CHARS = 200
# Rows fetched per round trip while a CSV streams.
CSV_CHUNK_SIZE = 2000
# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV Injection").
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The parameters that select rows; a page link keeps them, a "Download CSV" link carries them.
FILTER_KEYS = ("q", "from", "to", "state", "assigned", "size")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Bounds past which a date range is no bound (see ListQuery.since).
_DAY_FIRST = date.min + timedelta(days=1)
_DAY_LAST = date.max - timedelta(days=1)


@dataclass
class ListQuery:
    """What a list page was asked for, already made safe."""

    search: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page_number: int = 1
    page_size: int = PAGE_SIZE_DEFAULT
    older: tuple[datetime, int] | None = None
    newer: tuple[datetime, int] | None = None
    wants_csv: bool = False
    errors: list[str] = field(default_factory=list)
    # The raw filters to carry into page and export links (only the keys the page reads, made safe).
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        return bool(self.search or self.date_from or self.date_to)

    @property
    def first_page(self) -> bool:
        return self.page_number == 1 and self.older is None and self.newer is None

    def since(self) -> datetime | None:
        """The start of the ``from`` day in the current time zone (the member's), or None for no bound.

        The first and last days ``date`` can hold are no bound at all: in a zone ahead of UTC the start of
        0001-01-01 is a UTC time before year 1, which the database adapter cannot write.
        """
        if self.date_from is None or self.date_from <= _DAY_FIRST:
            return None
        return _day_start(self.date_from)

    def until(self) -> datetime | None:
        """The start of the day after ``to`` (the range includes the whole ``to`` day), or None for no bound."""
        if self.date_to is None or self.date_to >= _DAY_LAST:
            return None
        return _day_start(self.date_to + timedelta(days=1))

    def link(self, **changes: str) -> str:
        """A query string with the current filters and ``changes`` (an empty value drops the key)."""
        params = {**self.filters, **changes}
        return "?" + urlencode({key: value for key, value in params.items() if value})

    @property
    def link_prefix(self) -> str:
        """The current filters' query string ready for one more parameter (``?q=x&`` or ``?``)."""
        link = self.link()
        return link + "&" if len(link) > 1 else link

    def csv_link(self) -> str:
        return self.link(format="csv", size="")


def _clean_text(value: str, *, limit: int) -> str:
    # A NUL cannot be stored or searched by PostgreSQL; instaforge.middleware refuses one, this makes sure.
    return value.replace("\x00", "").strip()[:limit]


def _parse_date(raw: str, label: str, errors: list[str]) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        if len(raw) != 10 or not raw.isascii():  # YYYY-MM-DD only (fromisoformat also takes 20250131 and weeks)
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"“{raw[:40]}” is not a date for “{label}”: use the calendar or the form 2025-01-31.")
        return None


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _parse_int(raw: str, *, default: int, low: int, high: int) -> int:
    raw = raw.strip()
    # isdecimal accepts "²"'s relatives that int() refuses; isascii keeps only 0-9. Past 6 digits is out of range.
    if not raw or not raw.isascii() or not raw.isdecimal() or len(raw) > 6:
        return default
    return min(max(int(raw), low), high)


def cursor_encode(at: datetime, pk: int) -> str:
    """A page link's position: microseconds since the epoch and the id (``1733600000000000.42``)."""
    delta = at - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{pk}"


def cursor_decode(raw: str) -> tuple[datetime, int] | None:
    """The position a link names, or None for one that is not a cursor (tampered with, cut, out of range)."""
    micros, dot, pk = raw.strip().partition(".")
    # An id is a 64-bit integer: more would overflow the database's comparison.
    if not dot or not pk.isascii() or not pk.isdecimal() or len(pk) > 19 or int(pk) >= 2**63:
        return None
    negative = micros.startswith("-")
    digits = micros[1:] if negative else micros
    if not digits.isascii() or not digits.isdecimal() or len(digits) > 18:
        return None
    try:
        at = _EPOCH + timedelta(microseconds=-int(digits) if negative else int(digits))
    except OverflowError:
        return None
    if not _DAY_FIRST < at.date() < _DAY_LAST:  # the database adapter would overflow near the ends
        return None
    return at, int(pk)


def list_query_parse(params: QueryDict, *, extra_keys: Sequence[str] = ()) -> ListQuery:
    """Read a list page's query string; never raises. Unusable dates and cursors are reported in ``errors``."""
    errors: list[str] = []
    query = ListQuery(errors=errors)
    query.search = _clean_text(params.get("q", ""), limit=SEARCH_MAX_CHARS)
    query.date_from = _parse_date(params.get("from", ""), "from", errors)
    query.date_to = _parse_date(params.get("to", ""), "to", errors)
    if query.date_from and query.date_to and query.date_from > query.date_to:
        errors.append("The “from” date is after the “to” date: the range is empty.")
    query.page_number = _parse_int(params.get("page", ""), default=1, low=1, high=999_999)
    query.page_size = _parse_int(params.get("size", ""), default=PAGE_SIZE_DEFAULT, low=1, high=PAGE_SIZE_MAX)
    for key in ("older", "newer"):
        raw = params.get(key, "")
        if raw:
            position = cursor_decode(raw)
            if position is None:
                errors.append("This page link is broken or out of date: showing the first page.")
            setattr(query, key, position)
    query.wants_csv = params.get("format", "") == "csv"
    kept = {"q": query.search}
    if query.date_from:
        kept["from"] = query.date_from.isoformat()
    if query.date_to:
        kept["to"] = query.date_to.isoformat()
    if query.page_size != PAGE_SIZE_DEFAULT:
        kept["size"] = str(query.page_size)
    for key in extra_keys:
        kept[key] = _clean_text(params.get(key, ""), limit=SEARCH_MAX_CHARS)
    query.filters = {key: value for key, value in kept.items() if value}
    return query


def date_range_filter(queryset: QuerySet[ModelT], *, field_name: str, query: ListQuery) -> QuerySet[ModelT]:
    """Rows whose ``field_name`` falls in the query's [from, to] days (in the member's time zone)."""
    since, until = query.since(), query.until()
    if since is not None:
        queryset = queryset.filter(**{f"{field_name}__gte": since})
    if until is not None:
        queryset = queryset.filter(**{f"{field_name}__lt": until})
    return queryset


@dataclass
class KeysetPage(Generic[ModelT]):
    """One page of a list paged by (time, id), newest first, with the links to its neighbours."""

    rows: list[ModelT]
    older_cursor: str = ""
    newer_cursor: str = ""
    query: ListQuery = field(default_factory=ListQuery)

    @property
    def has_older(self) -> bool:
        return bool(self.older_cursor)

    @property
    def has_newer(self) -> bool:
        return bool(self.newer_cursor)

    @property
    def older_link(self) -> str:
        return self.query.link(older=self.older_cursor) if self.older_cursor else ""

    @property
    def newer_link(self) -> str:
        return self.query.link(newer=self.newer_cursor) if self.newer_cursor else ""

    @property
    def newest_link(self) -> str:
        return self.query.link()


def keyset_page(queryset: QuerySet[ModelT], *, time_field: str, query: ListQuery) -> KeysetPage[ModelT]:
    """A page of ``queryset`` newest first by (``time_field``, id), after or before the query's cursor.

    One range read of ``page_size + 1`` rows on an index that starts (workspace, time, id): as fast on the
    thousandth page as on the first. The extra row only says whether there is a further page.
    """
    size = query.page_size

    def position(row: ModelT) -> str:
        return cursor_encode(getattr(row, time_field), row.pk)

    if query.newer is not None:
        at, pk = query.newer
        after = Q(**{f"{time_field}__gt": at}) | Q(**{time_field: at, "pk__gt": pk})
        fetched = list(queryset.filter(after).order_by(time_field, "pk")[: size + 1])
        more_newer = len(fetched) > size
        rows = list(reversed(fetched[:size]))
        return KeysetPage(
            rows=rows,
            newer_cursor=position(rows[0]) if rows and more_newer else "",
            older_cursor=position(rows[-1]) if rows else "",
            query=query,
        )
    ordered = queryset.order_by(f"-{time_field}", "-pk")
    if query.older is not None:
        at, pk = query.older
        ordered = ordered.filter(Q(**{f"{time_field}__lt": at}) | Q(**{time_field: at, "pk__lt": pk}))
    fetched = list(ordered[: size + 1])
    rows = fetched[:size]
    return KeysetPage(
        rows=rows,
        older_cursor=position(rows[-1]) if len(fetched) > size else "",
        newer_cursor=position(rows[0]) if rows and query.older is not None else "",
        query=query,
    )


def numbered_page(queryset: QuerySet[ModelT], *, query: ListQuery) -> Page[ModelT]:
    """Django's Paginator: a page number past the end gives the last page, one below 1 the first."""
    return Paginator(queryset, query.page_size).get_page(query.page_number)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: times in ISO 8601 with their offset, text starting like a formula quoted with '."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, bool | int | float):
        return value
    text = str(value)
    if text.startswith(CSV_FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    """A file-like object whose ``write`` returns what it is given: csv.writer then yields lines one by one."""

    def write(self, value: str) -> str:
        return value


def csv_rows_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The lines of the CSV: a header, then each row with its cells guarded (see :func:`csv_cell`)."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(list(header))  # the BOM makes Excel read UTF-8
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def csv_response(
    *, filename: str, header: Sequence[str], queryset: QuerySet[ModelT], row: Callable[[ModelT], Sequence[Any]]
) -> StreamingHttpResponse:
    """A streamed CSV of ``queryset`` (read in chunks of :data:`CSV_CHUNK_SIZE` rows), one line per row."""
    rows = (row(item) for item in queryset.iterator(chunk_size=CSV_CHUNK_SIZE))
    response = StreamingHttpResponse(csv_rows_stream(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def csv_filename(stem: str, query: ListQuery) -> str:
    """``comments_2025-01-01_2025-01-31.csv``: the range in the name, so two exports are told apart."""
    start = query.date_from.isoformat() if query.date_from else "start"
    end = query.date_to.isoformat() if query.date_to else timezone.localdate().isoformat()
    return f"{stem}_{start}_{end}.csv"
