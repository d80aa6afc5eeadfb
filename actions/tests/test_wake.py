"""Waking the dispatcher (actions/dispatcher/wake.py): work planned due now is claimed in milliseconds, not at the
next poll, and the poll still finds everything when no wake-up arrives (docs/performance.md, "Waking the
dispatcher").

The dispatchers here poll every 5 s, so a claim well inside a second is a wake-up's doing, not a poll's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.db import connection, transaction
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import AccountState, InstagramAccount, Workspace
from actions.dispatcher import wake
from actions.dispatcher.loop import dispatcher_run
from actions.dispatcher.wake import Waiter
from actions.models import Action, ActionDecision, ActionType
from actions.services import action_plan
from actions.tests.processes import dispatcher_env, dispatcher_start, processes_stop, wait_until
from devtools.open_policies import OPEN_POLICIES
from tests.factories import InstagramAccountFactory
from warmup.services import warmup_skip

POLL = 5.0
# A wake-up's claim, on a busy 2-core machine (figures are measured elsewhere: bench/).
WOKEN_WITHIN = 0.75

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'",
    reason="LISTEN/NOTIFY wakes dispatchers in other processes on PostgreSQL only; SQLite has the in-process wake",
)


def _plan(account: InstagramAccount, key: str, *, due_in: float = 0.0) -> Action:
    action, created = action_plan(
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key=key,
        payload={"comment_id": f"1799{key}", "message": "Thanks!"},
        due_at=timezone.now() + timedelta(seconds=due_in),
    )
    assert created
    return action


def _gated_within(action: Action, timeout: float) -> bool:
    return wait_until(lambda: _gated(action), timeout=timeout, every=0.01)


def _gated(action: Action) -> bool:
    """A dispatcher claimed it: its gate's verdict is recorded (whatever became of the send)."""
    return ActionDecision.all_workspaces.filter(action=action).exists()


class CountingWaiter(Waiter):
    """A waiter of this process that counts its wake-ups (no listener: the count is the writers' own)."""

    def __init__(self) -> None:
        super().__init__(listen=False)
        self.dues: list[float] = []

    def wake(self, *, due: float) -> None:
        self.dues.append(due)
        super().wake(due=due)


@pytest.fixture
def counting() -> Iterator[CountingWaiter]:
    waiter = CountingWaiter()
    yield waiter
    waiter.close()


@pytest.fixture
def account(workspace: Workspace) -> InstagramAccount:
    return InstagramAccountFactory.create(workspace=workspace)


@pytest.fixture
def dispatcher(settings: Settings) -> Iterator[None]:
    """A dispatcher loop in a thread of this process, polling every 5 s, idle once its first pass is done."""
    settings.DISPATCHER_POLL_SECONDS = POLL
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher_run, kwargs={"stop": stop, "poll_seconds": POLL, "send_threads": 1})
    thread.start()
    try:
        assert wait_until(lambda: len(wake._waiters) > 0, timeout=10)
        if connection.vendor == "postgresql":
            assert wait_until(lambda: all(w.listening.is_set() for w in list(wake._waiters)), timeout=10)
        time.sleep(0.5)  # its first pass (housekeeping, an empty claim) is over: it waits
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def _listener_pids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = %s AND pid <> %s",
            [f"LISTEN {wake.CHANNEL}", connection.connection.info.backend_pid],
        )
        return [row[0] for row in cursor.fetchall()]


# --- The writers: one wake-up per transaction, and only for work due soon ---------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_transaction_that_plans_many_actions_sends_one_wake_up_with_the_earliest_due_time(
    account: InstagramAccount, counting: CountingWaiter
) -> None:
    with transaction.atomic():
        _plan(account, "a", due_in=0.3)
        first = _plan(account, "b")
        for key in "cdefgh":
            _plan(account, key, due_in=0.2)
        assert counting.dues == []  # nothing before the commit: a woken dispatcher would not see the rows
    assert counting.dues == [pytest.approx(first.due_at.timestamp())]

    # Outside a transaction each plan is its own transaction: one wake-up each.
    _plan(account, "i")
    _plan(account, "j")
    assert len(counting.dues) == 3


@pytest.mark.django_db(transaction=True)
def test_nothing_due_soon_or_rolled_back_sends_no_wake_up(
    account: InstagramAccount, counting: CountingWaiter, settings: Settings
) -> None:
    settings.DISPATCHER_POLL_SECONDS = POLL
    _plan(account, "later", due_in=POLL + 60)  # the polls find it in time
    with pytest.raises(RuntimeError), transaction.atomic():
        _plan(account, "undone")
        raise RuntimeError("rolled back")
    # A plan rolled back in a savepoint leaves the transaction's other plans their wake-up.
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            _plan(account, "undone-too")
            raise RuntimeError("rolled back")
        kept = _plan(account, "kept", due_in=1)
    assert counting.dues == [pytest.approx(kept.due_at.timestamp())]

    settings.DISPATCHER_WAKE = False
    _plan(account, "unwoken")
    assert len(counting.dues) == 1


@pytest.mark.django_db(transaction=True)
def test_actions_the_warm_up_held_back_wake_the_dispatchers_when_released(
    workspace: Workspace, counting: CountingWaiter
) -> None:
    account = InstagramAccountFactory.create(workspace=workspace, state=AccountState.WARMUP_DAY_1)
    held = Action.all_workspaces.create(
        workspace_id=workspace.pk,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="held",
        payload={"comment_id": "1799held", "message": "Thanks!"},
        due_at=timezone.now() + timedelta(hours=5),
        last_reason="warm-up day 1: comment replies wait for day 3",
    )
    warmup_skip(account_id=account.pk, actor=None, reason="a test")
    held.refresh_from_db()
    assert held.due_at <= timezone.now()
    assert counting.dues == [pytest.approx(held.due_at.timestamp())]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_transaction_notifies_once(account: InstagramAccount) -> None:
    params = wake._listener_params()
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute(f"LISTEN {wake.CHANNEL}")
        with transaction.atomic():
            first = _plan(account, "a")
            for key in "bcdefghij":
                _plan(account, key)
        _plan(account, "later", due_in=3600)
        payloads = [notify.payload for notify in listener.notifies(timeout=1.0)]
    assert payloads == [repr(first.due_at.timestamp())]


# --- The waiter: woken, stopped, or the poll interval; a future due time wakes when it falls due -------------


def test_a_waiter_returns_when_woken_when_stopped_or_after_the_poll_interval() -> None:
    waiter = Waiter(listen=False)
    stop = threading.Event()
    try:
        started = time.monotonic()
        assert waiter.wait(stop=stop, timeout=0.3) is False
        assert 0.3 <= time.monotonic() - started < 0.6

        threading.Timer(0.1, lambda: wake.wake_local()).start()
        started = time.monotonic()
        assert waiter.wait(stop=stop, timeout=POLL) is True
        assert time.monotonic() - started < 0.5

        # Due in 0.6 s: not before.
        waiter.wake(due=time.time() + 0.6)
        started = time.monotonic()
        assert waiter.wait(stop=stop, timeout=POLL) is True
        assert 0.58 <= time.monotonic() - started < 1.0

        threading.Timer(0.1, stop.set).start()
        started = time.monotonic()
        assert waiter.wait(stop=stop, timeout=POLL) is False
        assert time.monotonic() - started < 0.5
    finally:
        waiter.close()
    wake.wake_local()  # a closed waiter is no longer woken
    assert waiter not in wake._waiters


# --- A running dispatcher ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_running_dispatcher_claims_work_planned_due_now_at_once(account: InstagramAccount, dispatcher: None) -> None:
    for key in ("first", "second"):
        action = _plan(account, key)
        started = time.monotonic()
        assert _gated_within(action, POLL - 1)
        assert time.monotonic() - started < WOKEN_WITHIN


@pytest.mark.django_db(transaction=True)
def test_work_planned_due_shortly_is_claimed_when_it_falls_due_not_before(
    account: InstagramAccount, dispatcher: None
) -> None:
    action = _plan(account, "soon", due_in=1.2)
    started = time.monotonic()
    assert wait_until(lambda: _gated(action), timeout=POLL - 1, every=0.01)
    taken = time.monotonic() - started
    assert 1.1 <= taken < 1.2 + WOKEN_WITHIN


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_dispatcher_in_another_process_is_woken_by_postgresql(account: InstagramAccount, tmp_path: Path) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(OPEN_POLICIES)
    env = dispatcher_env(policies=policies)
    env["DISPATCHER_POLL_SECONDS"] = str(POLL)
    process = dispatcher_start(env, tmp_path / "dispatcher.log")
    try:
        assert wait_until(lambda: len(_listener_pids()) == 1, timeout=20), (tmp_path / "dispatcher.log").read_text()
        time.sleep(1.0)  # its first pass is over
        # Three in a row, each claimed well inside a second: a 5 s poll would explain one by chance, not three.
        for key in ("one", "two", "three"):
            action = _plan(account, key)
            started = time.monotonic()
            assert _gated_within(action, POLL + 2)
            assert time.monotonic() - started < WOKEN_WITHIN, key
    finally:
        processes_stop([process])


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_with_its_listener_killed_a_dispatcher_polls_and_listens_again(
    account: InstagramAccount, dispatcher: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    (waiter,) = list(wake._waiters)
    killed = waiter.listener_pid

    def refused(**_params: object) -> psycopg.Connection[object]:
        raise psycopg.OperationalError("connection refused (test)")

    # The database refuses the listener's new connections for a while: nothing wakes the dispatcher.
    monkeypatch.setattr(wake.psycopg, "connect", refused)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [killed])
    assert wait_until(lambda: not waiter.listening.is_set(), timeout=5)
    # Work made due without a wake-up (a writer's would reach this process's waiter directly): the poll finds it.
    action = Action.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="unannounced",
        payload={"comment_id": "1799unannounced", "message": "Thanks!"},
        due_at=timezone.now(),
    )
    assert wait_until(lambda: _gated(action), timeout=POLL + 3, every=0.05)
    assert not waiter.listening.is_set()

    # The database is back: it listens again on a new connection, having logged the outage once.
    monkeypatch.undo()
    assert wait_until(lambda: waiter.listening.is_set(), timeout=20)
    assert waiter.listener_pid != killed
    assert _listener_pids() == [waiter.listener_pid]
    lost = [record for record in caplog.records if "wake-ups lost" in record.getMessage()]
    assert len(lost) == 1
    # ... and is woken again, by a wake-up sent from another connection.
    time.sleep(0.5)  # the look it takes after reconnecting is over
    after = Action.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="announced",
        payload={"comment_id": "1799announced", "message": "Thanks!"},
        due_at=timezone.now(),
    )
    with psycopg.connect(**wake._listener_params(), autocommit=True) as other:
        other.execute("SELECT pg_notify(%s, %s)", [wake.CHANNEL, repr(time.time())])
    started = time.monotonic()
    assert wait_until(lambda: _gated(after), timeout=POLL - 1, every=0.01)
    assert time.monotonic() - started < WOKEN_WITHIN
