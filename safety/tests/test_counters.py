"""The shared counters: taken all or none, in one statement when every slot has room, no row kept locked otherwise."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from safety.counters import CounterSlot, window_start
from safety.models import SafetyCounter
from safety.services import counters_take


def _slots(*, hour_limit: int = 10, day_limit: int = 100, scope: str = "global") -> list[CounterSlot]:
    now = timezone.now()
    return [
        CounterSlot(scope, "hour", window_start(now, "hour"), hour_limit, "platform hourly limit"),
        CounterSlot(scope, "day", window_start(now, "day"), day_limit, "platform daily limit"),
    ]


def _counts(scope: str = "global") -> dict[str, int]:
    return dict(SafetyCounter.objects.filter(scope=scope).values_list("window", "count"))


@pytest.mark.django_db
def test_slots_with_room_are_taken_in_one_statement() -> None:
    counters_take(slots=_slots())  # creates this window's rows
    assert _counts() == {"hour": 1, "day": 1}
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        assert counters_take(slots=_slots(), units=3) is None
    statements = [query["sql"] for query in queries if not query["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN"))]
    assert len(statements) == 1, statements
    savepoints = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) <= 1  # the test's own atomic block (a savepoint in the test's transaction), none inside
    assert _counts() == {"hour": 4, "day": 4}


@pytest.mark.django_db
def test_a_full_slot_takes_nothing_of_the_others_and_is_named() -> None:
    counters_take(slots=_slots())
    SafetyCounter.objects.filter(scope="global", window="hour").update(count=10)
    full = counters_take(slots=_slots())
    assert full is not None and full.window == "hour"
    assert _counts() == {"hour": 10, "day": 1}
    assert counters_take(slots=_slots(hour_limit=11), units=2) is not None  # room for one, not two
    assert _counts() == {"hour": 10, "day": 1}
    assert counters_take(slots=_slots(hour_limit=11)) is None
    assert _counts() == {"hour": 11, "day": 2}


@pytest.mark.django_db
def test_a_new_windows_rows_are_created_then_taken() -> None:
    SafetyCounter.objects.create(scope="global", window="day", window_start=_slots()[1].window_start, count=7)
    assert counters_take(slots=_slots()) is None  # the hour's row was missing
    assert _counts() == {"hour": 1, "day": 8}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_take_that_fails_keeps_no_row_locked() -> None:
    """A full slot: the rows with room are neither changed nor left locked while the transaction goes on (another
    dispatcher takes them at once); a taken one stays locked until commit."""
    counters_take(slots=_slots())
    SafetyCounter.objects.filter(scope="global", window="hour").update(count=10)
    results: list[str] = []

    def other_dispatcher_locks_the_day_row() -> None:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                day = "SELECT id FROM safety_safetycounter WHERE scope = 'global' AND \"window\" = 'day'"
                cursor.execute(f"{day} FOR UPDATE NOWAIT")
                results.append("free")
        except DatabaseError:
            results.append("locked")
        finally:
            connections.close_all()

    with transaction.atomic():
        assert counters_take(slots=_slots()) is not None
        thread = threading.Thread(target=other_dispatcher_locks_the_day_row)
        thread.start()
        thread.join(10)
        assert counters_take(slots=_slots(hour_limit=20)) is None  # taken: now locked until commit
        thread = threading.Thread(target=other_dispatcher_locks_the_day_row)
        thread.start()
        thread.join(10)
    assert results == ["free", "locked"]
    assert _counts() == {"hour": 11, "day": 2}
