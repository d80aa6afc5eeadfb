"""The batched inbound path's claim, finish and coalesced enqueue (docs/performance.md, issue 23)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Workspace
from instagram.events import HandlerResult
from instagram.models import InboundEvent, InboundEventState
from instagram.services import EventEnd, inbound_events_claim, inbound_events_finish


def _pending(count: int, *, field: str = "unknown_field", received_seconds_ago: int = 0) -> list[InboundEvent]:
    received = timezone.now() - timedelta(seconds=received_seconds_ago)
    start = InboundEvent.objects.count()
    return [
        InboundEvent.objects.create(
            dedupe_key=f"batch:{start + number}",
            object_type="instagram",
            field=field,
            entry_id="",
            payload={"number": start + number},
            received_at=received + timedelta(milliseconds=number),
        )
        for number in range(count)
    ]


@pytest.mark.django_db
def test_a_claim_takes_the_given_events_then_the_oldest_waiting_up_to_the_limit() -> None:
    old = _pending(3, received_seconds_ago=60)
    new = _pending(5)
    claimed = inbound_events_claim(event_ids=[new[-1].pk], limit=4)
    # The delivery's own event first in importance (always taken), then the oldest waiting, oldest first.
    assert {event.pk for event in claimed} == {new[-1].pk, *(event.pk for event in old)}
    assert [event.pk for event in claimed] == sorted(
        (event.pk for event in claimed), key=lambda pk: InboundEvent.objects.get(pk=pk).received_at
    )
    for event in InboundEvent.objects.filter(pk__in=[event.pk for event in claimed]):
        assert event.state == InboundEventState.PROCESSING
        assert event.attempts == 1 and event.processing_since is not None
    assert InboundEvent.objects.filter(state=InboundEventState.PENDING).count() == 4
    # The given ones are taken even past the limit; what is taken is not taken again.
    again = inbound_events_claim(event_ids=[event.pk for event in new], limit=1)
    assert {event.pk for event in again} == {event.pk for event in new[:-1]}
    assert inbound_events_claim(event_ids=[event.pk for event in new], limit=10) == []


@pytest.mark.django_db
def test_finishing_records_each_events_own_state_and_redacted_outcome() -> None:
    events = _pending(3)
    claimed = inbound_events_claim(event_ids=[event.pk for event in events], limit=3)
    secret = "IGAA" + "x" * 60
    inbound_events_finish(
        [
            EventEnd(claimed[0].pk, InboundEventState.PROCESSED, "Actions planned"),
            EventEnd(claimed[1].pk, InboundEventState.IGNORED, "no handler"),
            EventEnd(claimed[2].pk, InboundEventState.FAILED, f"RuntimeError: token {secret} refused " + "y" * 600),
        ]
    )
    rows = {event.pk: event for event in InboundEvent.objects.all()}
    assert rows[claimed[0].pk].state == InboundEventState.PROCESSED
    assert rows[claimed[0].pk].outcome == "Actions planned"
    assert rows[claimed[1].pk].state == InboundEventState.IGNORED
    failed = rows[claimed[2].pk]
    assert failed.state == InboundEventState.FAILED and secret not in failed.outcome and len(failed.outcome) == 500
    assert all(row.processed_at is not None for row in rows.values())


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_each_event_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: SQLite takes one at a time, PostgreSQL's SKIP LOCKED is what is proven")
    events = _pending(300)
    taken: list[list[int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def claimer() -> None:
        try:
            barrier.wait()
            mine: list[int] = []
            while batch := inbound_events_claim(event_ids=[], limit=7):
                mine += [event.pk for event in batch]
            with lock:
                taken.append(mine)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [pk for mine in taken for pk in mine]
    assert sorted(everything) == sorted(event.pk for event in events)  # all taken, none twice
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db
def test_a_full_batch_enqueues_a_task_for_what_waits_beyond_it(settings, monkeypatch) -> None:
    import instagram.tasks as tasks

    settings.INBOUND_BATCH_SIZE = 4
    enqueued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "enqueue_coalesced", lambda *args, **kwargs: enqueued.append(args))
    events = _pending(6)
    outcomes = tasks.inbound_events_process([events[0].pk])
    assert sum(outcomes.values()) == 4 and enqueued == [("instagram.tasks.inbound_events_process", [])]
    enqueued.clear()
    assert sum(tasks.inbound_events_process([]).values()) == 2 and enqueued == []
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {InboundEventState.IGNORED}


@pytest.mark.django_db
def test_an_event_whose_handler_raises_is_recorded_failed_and_the_others_are_handled(monkeypatch) -> None:
    import instagram.tasks as tasks

    def handler(event: InboundEvent) -> Any:
        if event.payload["number"] == 1:
            raise RuntimeError("boom")
        return HandlerResult(InboundEventState.PROCESSED, "fine")

    events = _pending(3)
    monkeypatch.setattr(tasks, "handler_for", lambda field: handler)
    workspace = Workspace.objects.create(name="W")
    account = InstagramAccount.all_workspaces.create(
        workspace=workspace, ig_user_id="17841400000000009", username="w", state=AccountState.ACTIVE
    )
    InboundEvent.objects.update(account=account, workspace=workspace)  # routed to an active account
    outcomes = tasks.inbound_events_process([event.pk for event in events])
    assert outcomes == {"fine": 2, "failed": 1}
    states = dict(InboundEvent.objects.values_list("payload__number", "state"))
    assert states == {0: "processed", 1: "failed", 2: "processed"}
    assert InboundEvent.objects.get(state="failed").outcome == "RuntimeError: boom"


@pytest.mark.django_db(transaction=True)
def test_with_redis_one_task_is_queued_for_a_burst_and_the_next_after_it_starts(settings, monkeypatch) -> None:
    if not django_settings.REDIS_URL:
        pytest.skip("coalescing uses Redis (REDIS_URL)")
    import instaforge.tasks as tasks

    settings.BROKER_NAME = "redis"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "enqueue", lambda *args: sent.append(args))
    tasks.coalesced_flag_clear("test")
    with transaction.atomic():
        tasks.enqueue_coalesced("x.y", [1], flag="test")
        assert sent == []  # after the commit, not before
    for number in (2, 3):
        tasks.enqueue_coalesced("x.y", [number], flag="test")
    assert sent == [("x.y", [1])]  # the burst: one task, which claims what the others stored
    key = tasks._flag_key("test")
    assert 0 < tasks._broker().connection.ttl(key) <= tasks.COALESCED_FLAG_SECONDS
    tasks.coalesced_flag_clear("test")  # the task started
    tasks.enqueue_coalesced("x.y", [4], flag="test")
    assert sent == [("x.y", [1]), ("x.y", [4])]
    # A rolled-back transaction sends nothing and sets no flag.
    tasks.coalesced_flag_clear("test")
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.enqueue_coalesced("x.y", [5], flag="test")
        raise RuntimeError("rolled back")
    assert not tasks._broker().connection.exists(key)
    tasks.coalesced_flag_clear("test")


@pytest.mark.django_db
def test_with_the_orm_broker_or_inline_tasks_every_call_enqueues(settings, monkeypatch) -> None:
    import instaforge.tasks as tasks

    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks, "enqueue_with_commit", lambda *args, **kwargs: sent.append(args))
    settings.BROKER_NAME = "orm"
    tasks.enqueue_coalesced("x.y", [1], flag="test")
    tasks.enqueue_coalesced("x.y", [2], flag="test")
    settings.BROKER_NAME = "redis"  # tasks inline (the suite's Q_CLUSTER sync)
    tasks.enqueue_coalesced("x.y", [3], flag="test")
    assert sent == [("x.y", [1]), ("x.y", [2]), ("x.y", [3])]
