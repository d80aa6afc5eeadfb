"""The one way to build a Graph API client for an account: usage reported to safety, per-call limits kept.

Every client that calls Instagram for a connected account comes from
``graph_client``: the executor's, the reconcilers', the reads of the inbox,
the comments and the backfill. Each answer's usage headers reach the safety
engine (``safety.services.usage_observe``: near a budget's end, or when Meta
gives a regain time, the account stops calling), and the calls to an API with
a limit of its own that no action goes through (the Conversations API: read
by the DM and private-reply reconcilers and by the backfill, 2 calls/s per
account) wait for their turn here (``CallLimiter``).

The OAuth exchanges and token refreshes in ``accounts.services`` build their
client directly: they run before the account has a usable token, or in the
layer below safety.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from accounts.models import InstagramAccount
from accounts.services import account_access_token
from instagram.client import InstagramClient
from safety.policies import META_CEILINGS
from safety.selectors import account_usage
from safety.services import usage_observe


class CallLimiter:
    """At most ``limit`` calls per ``window`` per account, in this process: a call over it waits for a slot.

    A sliding window of the latest calls' times per account. Per process: several
    processes reading one account's conversations at once each keep to it (the
    reads that go through it are few: reconciliations and the backfill's schedule).
    """

    def __init__(
        self,
        *,
        limit: int,
        window: timedelta,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit, self.window = limit, window.total_seconds()
        self._clock, self._sleep = clock, sleep
        self._calls: dict[int, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, account_id: int) -> float:
        """Take a slot for one call of ``account_id``, waiting until there is one. Returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                calls = self._calls.setdefault(account_id, deque())
                while calls and calls[0] <= now - self.window:
                    calls.popleft()
                if len(calls) < self.limit:
                    calls.append(now)
                    return waited
                wait = calls[0] + self.window - now
            self._sleep(wait)
            waited += wait


# One limiter per API whose ceiling is counted per call (``MetaCeiling.per_call_api``).
CALL_LIMITERS: dict[str, CallLimiter] = {
    ceiling.per_call_api: CallLimiter(limit=ceiling.limit, window=ceiling.window)
    for ceiling in META_CEILINGS
    if ceiling.per_call_api
}


def graph_client(*, account: InstagramAccount, max_retries: int = 2) -> InstagramClient:
    """A client for ``account`` whose every answer's usage headers reach the safety engine.

    The account's usage row, when the caller loaded it with the account (the gate
    does), spares the write of a low reading over a recent low row (``usage_observe``).
    Calls to an API counted per call (``CALL_LIMITERS``) wait for a slot of the account.
    """
    known = account_usage(account=account, read=False)
    account_id = account.pk

    def observe(usage: dict[str, Any]) -> None:
        usage_observe(account_id=account_id, usage=usage, known=known)

    def before_call(api: str) -> None:
        limiter = CALL_LIMITERS.get(api)
        if limiter is not None:
            limiter.acquire(account_id)

    return InstagramClient(
        access_token=account_access_token(account=account),
        max_retries=max_retries,
        on_usage=observe,
        before_call=before_call,
    )
