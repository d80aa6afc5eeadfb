"""instaforge.lists: the query string is read without raising, cursors round-trip, CSV cells cannot run as formulas."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.http import QueryDict
from django.utils import timezone
from hypothesis import given, settings, strategies

from instaforge.lists import (
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    SEARCH_MAX_CHARS,
    csv_cell,
    csv_rows_stream,
    cursor_decode,
    cursor_encode,
    list_query_parse,
)

FAST = settings(derandomize=True, database=None, max_examples=200, deadline=None)


def _parse(**params: str):
    query = QueryDict(mutable=True)
    for key, value in params.items():
        query[key] = value
    return list_query_parse(query)


def test_defaults_and_bounds() -> None:
    query = _parse()
    assert (query.search, query.page_number, query.page_size, query.errors) == ("", 1, PAGE_SIZE_DEFAULT, [])
    assert query.first_page and not query.filtered and query.link() == "?"
    assert _parse(size="100000").page_size == PAGE_SIZE_MAX
    assert _parse(size="0").page_size == 1
    assert _parse(page="-1").page_number == 1 and _parse(page="abc").page_number == 1
    assert _parse(page="²").page_number == 1 and _parse(page="١٢").page_number == 1
    assert len(_parse(q="x" * 100_000).search) == SEARCH_MAX_CHARS
    assert _parse(q="  a\x00b  ").search == "ab"


def test_dates_that_do_not_exist_are_reported() -> None:
    assert _parse(**{"from": "2020-13-45"}).errors
    assert _parse(**{"from": "2024-02-30"}).errors
    assert _parse(to="20250131").errors  # ISO's basic form: refused, the date inputs send 2025-01-31
    assert _parse(to="2025-W05").errors
    query = _parse(**{"from": "2025-03-02", "to": "2025-03-01"})
    assert query.errors and "after" in query.errors[0]
    assert _parse(**{"from": "2025-03-01"}).errors == []


def test_the_range_is_whole_days_in_the_current_zone() -> None:
    query = _parse(**{"from": "2025-03-01", "to": "2025-03-01"})
    with timezone.override(ZoneInfo("Europe/Paris")):
        assert query.since() == datetime(2025, 2, 28, 23, 0, tzinfo=UTC)
        assert query.until() == datetime(2025, 3, 1, 23, 0, tzinfo=UTC)
    extremes = _parse(**{"from": "0001-01-01", "to": "9999-12-31"})
    assert extremes.since() is None and extremes.until() is None and not extremes.errors


def test_links_keep_the_filters_and_the_export_drops_the_page_size() -> None:
    query = list_query_parse(QueryDict("q=lamp&from=2025-03-01&size=20&page=3&state=x"), extra_keys=("state",))
    assert query.link() == "?q=lamp&from=2025-03-01&size=20&state=x"
    assert query.link_prefix == "?q=lamp&from=2025-03-01&size=20&state=x&"
    assert query.csv_link() == "?q=lamp&from=2025-03-01&state=x&format=csv"


@FAST
@given(
    at=strategies.datetimes(min_value=datetime(1, 1, 3), max_value=datetime(9999, 12, 29)),
    pk=strategies.integers(1, 2**62),
)
def test_cursors_round_trip(at: datetime, pk: int) -> None:
    aware = at.replace(tzinfo=UTC)
    assert cursor_decode(cursor_encode(aware, pk)) == (aware, pk)


@FAST
@given(raw=strategies.text())
def test_any_cursor_text_decodes_or_is_refused(raw: str) -> None:
    position = cursor_decode(raw)
    assert position is None or (position[0].tzinfo is not None and position[1] >= 0)


@FAST
@given(
    params=strategies.dictionaries(
        strategies.sampled_from(["q", "from", "to", "page", "size", "older", "newer", "format"]), strategies.text()
    )
)
def test_any_query_string_is_read_without_raising(params: dict[str, str]) -> None:
    query = _parse(**params)
    assert 1 <= query.page_size <= PAGE_SIZE_MAX and query.page_number >= 1
    assert len(query.search) <= SEARCH_MAX_CHARS and "\x00" not in query.search
    query.since(), query.until(), query.link()


@FAST
@given(text=strategies.text())
def test_no_cell_starts_like_a_formula(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or cell == text == ""
    assert cell.removeprefix("'") == text or cell == text


def test_cells_numbers_times_and_the_stream() -> None:
    assert csv_cell(-5) == -5 and csv_cell(None) == "" and csv_cell(True) is True
    assert csv_cell("-5") == "'-5"
    with timezone.override(ZoneInfo("Europe/Paris")):
        assert csv_cell(datetime(2025, 3, 1, 12, tzinfo=UTC)) == "2025-03-01T13:00:00+01:00"
    assert csv_cell(date(2025, 3, 1)) == "2025-03-01"
    lines = list(csv_rows_stream(["a", "b"], [["=x", 1], ["y,z", datetime(2025, 1, 1, tzinfo=UTC) + timedelta()]]))
    assert lines[0].startswith("\ufeff")
    rows = list(csv.reader(io.StringIO("".join(lines).lstrip("\ufeff"))))
    assert rows == [["a", "b"], ["'=x", "1"], ["y,z", "2025-01-01T00:00:00+00:00"]]
