"""``enqueue_coalesced_items``: one task for a burst of best-effort items, every item taken once (issue 23)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction

import instaforge.tasks as tasks

FLAG = "test-items"


@pytest.fixture
def redis_broker(settings, monkeypatch) -> Iterator[list[tuple[Any, ...]]]:
    if not django_settings.REDIS_URL:
        pytest.skip("coalescing uses Redis (REDIS_URL)")
    settings.BROKER_NAME = "redis"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "enqueue", lambda *args: sent.append(args))
    tasks.coalesced_items_take(FLAG, [])  # nothing left by an earlier test
    yield sent
    tasks.coalesced_items_take(FLAG, [])


@pytest.mark.django_db(transaction=True)
def test_a_burst_queues_one_task_which_takes_every_item_once(redis_broker) -> None:
    sent = redis_broker
    with transaction.atomic():
        tasks.enqueue_coalesced_items("x.y", ["1:10"], flag=FLAG)
        assert sent == []  # after the commit
    tasks.enqueue_coalesced_items("x.y", ["1:11", "2:20"], flag=FLAG)
    tasks.enqueue_coalesced_items("x.y", ["1:10"], flag=FLAG)
    assert sent == [("x.y", [])]
    assert tasks.coalesced_items_take(FLAG, []) == ["1:10", "1:11", "2:20"]
    # Taken: the flag is cleared, the list is empty; the next item queues the next task.
    assert tasks.coalesced_items_take(FLAG, []) == []
    tasks.enqueue_coalesced_items("x.y", ["3:30"], flag=FLAG)
    assert sent == [("x.y", []), ("x.y", [])]
    assert tasks.coalesced_items_take(FLAG, ["3:31"]) == ["3:31", "3:30"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_adds_nothing(redis_broker) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.enqueue_coalesced_items("x.y", ["1:10"], flag=FLAG)
        raise RuntimeError("rolled back")
    assert redis_broker == []
    assert tasks.coalesced_items_take(FLAG, []) == []


@pytest.mark.django_db(transaction=True)
def test_items_added_while_tasks_take_are_all_taken_once(redis_broker) -> None:
    """Producers and takers at once: every item is taken by exactly one take, none is lost."""
    taken: list[str] = []
    stop = threading.Event()

    def take() -> None:
        while not stop.is_set():
            taken.extend(tasks.coalesced_items_take(FLAG, []))

    taker = threading.Thread(target=take)
    taker.start()
    try:
        for number in range(500):
            tasks.enqueue_coalesced_items("x.y", [str(number)], flag=FLAG)
    finally:
        stop.set()
        taker.join()
    taken.extend(tasks.coalesced_items_take(FLAG, []))
    assert sorted(taken, key=int) == [str(number) for number in range(500)]


@pytest.mark.django_db
def test_with_the_orm_broker_each_call_enqueues_its_own_items(settings, monkeypatch) -> None:
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "enqueue_with_commit", lambda *args, **kwargs: sent.append(args))
    settings.BROKER_NAME = "orm"
    tasks.enqueue_coalesced_items("x.y", ["1:10"], flag=FLAG)
    tasks.enqueue_coalesced_items("x.y", [], flag=FLAG)  # nothing to do: nothing queued
    tasks.enqueue_coalesced_items("x.y", ["1:11"], flag=FLAG)
    assert sent == [("x.y", ["1:10"]), ("x.y", ["1:11"])]
    assert tasks.coalesced_items_take(FLAG, ["1:11", "1:11"]) == ["1:11"]
