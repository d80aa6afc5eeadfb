"""The one Graph client builder: usage reaches safety, the Conversations API keeps to 2 calls/s per account."""

from __future__ import annotations

from datetime import timedelta

import pytest

from instagram.errors import NotSentError
from safety import graph
from safety.graph import CALL_LIMITERS, CallLimiter, graph_client
from safety.policies import META_CONVERSATIONS_API_PER_SECOND


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_third_call_within_a_second_waits_for_the_oldest_to_leave_the_window() -> None:
    clock = _Clock()
    limiter = CallLimiter(limit=2, window=timedelta(seconds=1), clock=clock, sleep=clock.sleep)
    assert limiter.acquire(1) == 0
    clock.now += 0.25
    assert limiter.acquire(1) == 0
    assert limiter.acquire(2) == 0  # another account has its own window
    assert limiter.acquire(1) == pytest.approx(0.75)
    assert clock.now == pytest.approx(101.0)
    clock.now += 2
    assert limiter.acquire(1) == 0


def test_the_conversations_api_limiter_has_meta_s_figure() -> None:
    limiter = CALL_LIMITERS["conversations"]
    assert (limiter.limit, limiter.window) == (META_CONVERSATIONS_API_PER_SECOND, 1.0)


def test_an_account_s_client_reports_usage_and_takes_a_slot_per_conversations_api_call(
    make_account, workspace, monkeypatch
) -> None:
    account = make_account(workspace)
    taken: list[int] = []
    observed: list[dict[str, object]] = []

    class Recording(CallLimiter):
        def acquire(self, account_id: int) -> float:
            taken.append(account_id)
            return 0.0

    monkeypatch.setitem(CALL_LIMITERS, "conversations", Recording(limit=2, window=timedelta(seconds=1)))
    monkeypatch.setattr(graph, "usage_observe", lambda **kwargs: observed.append(kwargs))
    client = graph_client(account=account, max_retries=0)
    assert client.on_usage is not None
    with pytest.raises(NotSentError):  # the test settings' Instagram refuses every connection
        client.conversations_list(user_id="r")
    with pytest.raises(NotSentError):
        client.me()  # not a Conversations API call: no slot taken
    assert taken == [account.pk]
    client.on_usage({"app": {"call_count": 5}})
    assert observed[0]["account_id"] == account.pk and observed[0]["usage"] == {"app": {"call_count": 5}}
