"""Sending: the calls to Instagram for actions the gate marked ``sending``, and what becomes of them.

Each outcome goes on the ledger first (a success through the ``OutcomeWriter``),
then to the safety engine, once: ``safety.services.action_outcome_observe``
(events, risk score, backoff, regain time, suspension with evidence).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from accounts.services import ForbiddenTransition, account_mark_error
from accounts.vault import TokenDecryptionError
from actions.executor import action_execute
from actions.models import Action, ActionState, Verdict
from actions.services import Outcome, action_finish, action_record_decision, actions_finish
from instaforge.correlation import LogContext, correlation_bind
from instaforge.redaction import secrets_redact
from instagram.errors import (
    GraphAPIError,
    NotSentError,
    OutcomeUnknownError,
    PolicyBlockedError,
    RateLimitedError,
    TokenInvalidError,
    TransientError,
)
from observability.metrics import ACTION_LAG, ACTIONS
from safety.services import action_outcome_observe

logger = logging.getLogger(__name__)

# Not sent (Instagram unreachable: refused, no DNS, no connection in time): tried again after 15 s, doubling
# with each consecutive not-sent try up to 5 minutes, for as long as it takes. Never failed for that alone:
# nothing reached Instagram, so nothing is lost by waiting, and nothing is silently dropped.
RETRY_AFTER_NOT_SENT = timedelta(seconds=15)
RETRY_AFTER_NOT_SENT_MAX = timedelta(minutes=5)
NOT_SENT_TRIES = "not_sent_tries"  # in the result of a planned action: consecutive tries that reached no one
RETRY_AFTER_RATE_LIMIT = timedelta(minutes=5)
RETRY_AFTER_TOKEN_ERROR = timedelta(minutes=5)


def _finish_now(outcome: Outcome) -> None:
    actions_finish([outcome])


def action_send(*, action: Action, finish: Callable[[Outcome], None] = _finish_now) -> str:
    """Call Instagram for an action marked ``sending`` and record what happened. Returns the new state.

    The outcome goes on the ledger first; then the safety engine learns from
    it, in one call (``safety.services.action_outcome_observe``). ``finish``
    records a success: at once, or handed to the senders' ``OutcomeWriter``.
    """
    with _action_bound(action):
        state, error = _send(action, finish)
        _outcome_count(action, state, error)
        logger.info(
            "Action %s (%s): %s",
            action.pk,
            action.action_type,
            state,
            extra={"action_type": action.action_type, "outcome": state, "error_code": getattr(error, "code", None)},
        )
        try:
            action_outcome_observe(action=action, outcome=state, error=error)
        except Exception:
            logger.exception("The safety engine could not learn from the outcome of action %s", action.pk)
    return state


def _action_bound(action: Action) -> contextlib.AbstractContextManager[LogContext]:
    """The action's correlation id (the work that planned it) and its ids, on every line its sending writes."""
    return correlation_bind(
        correlation_id=action.correlation_id,
        workspace_id=action.workspace_id,
        account_id=action.account_id,
        action_id=action.pk,
    )


def _outcome_count(action: Action, state: str, error: GraphAPIError | None) -> None:
    """``instaforge_actions_total`` (a send planned again is ``not_sent`` or ``retry_later``) and, for a success,
    ``instaforge_action_lag_seconds`` from its due time."""
    if state == ActionState.PLANNED:
        outcome = "not_sent" if isinstance(error, NotSentError) else "retry_later"
    else:
        outcome = state
    ACTIONS.labels(type=action.action_type, outcome=outcome).inc()
    if state == ActionState.SUCCEEDED and action.due_at is not None:
        ACTION_LAG.observe(max(0.0, (timezone.now() - action.due_at).total_seconds()))


def _send(action: Action, finish: Callable[[Outcome], None]) -> tuple[str, GraphAPIError | None]:
    """Make the call and record its outcome on the ledger: ``(the new state, the error Instagram's answer raised)``."""
    now = timezone.now()
    try:
        result = action_execute(action=action)
    except OutcomeUnknownError as exc:
        return _outcome_unknown(action, f"no answer from Instagram: {exc}"), exc
    except NotSentError as exc:
        # Not an error of Instagram's and not the account's: the safety engine only gives the allow back.
        return _not_sent(action, now, exc), exc
    except RateLimitedError as exc:
        # The safety engine stops the account's calls until Instagram's regain time (action_outcome_observe).
        reason = f"Instagram rate limit (code {exc.code}): {exc.message}"
        return _send_later(action, now + RETRY_AFTER_RATE_LIMIT, reason), exc
    except (TokenInvalidError, TokenDecryptionError) as exc:
        reason = f"Instagram rejected the token: {exc}"
        with contextlib.suppress(ForbiddenTransition):
            account_mark_error(account_id=action.account_id, reason=reason[:500])
        later = _send_later(action, now + RETRY_AFTER_TOKEN_ERROR, reason + " (kept until the account is reconnected)")
        return later, exc if isinstance(exc, GraphAPIError) else None
    except PolicyBlockedError as exc:
        # The account is suspended for review with the evidence by the safety engine (action_outcome_observe).
        reason = f"Instagram blocked the action for policy reasons (code 368): {exc.message}"
        later = _send_later(
            action, now + RETRY_AFTER_TOKEN_ERROR, reason + " (kept until an operator has reviewed the account)"
        )
        return later, exc
    except TransientError as exc:
        # A 5xx or a broken answer after sending: Instagram may have acted. Reconcile, never resend blindly.
        return _outcome_unknown(action, f"unclear answer from Instagram: {exc}"), exc
    except GraphAPIError as exc:
        action_finish(
            action_id=action.pk, state=ActionState.FAILED, result={"error": exc.as_dict()}, reason=exc.message
        )
        return ActionState.FAILED, exc
    finish(Outcome(action_id=action.pk, state=ActionState.SUCCEEDED, result=result, reason="sent"))
    return ActionState.SUCCEEDED, None


def _outcome_unknown(action: Action, reason: str) -> str:
    """Sent, with no clear answer: ``unknown``, for recovery to reconcile against Instagram (never resent blindly)."""
    Action.all_workspaces.filter(pk=action.pk, state=ActionState.SENDING).update(
        state=ActionState.UNKNOWN, last_reason=secrets_redact(reason)[:500], lease_until=None
    )
    return ActionState.UNKNOWN


def _send_later(action: Action, until: datetime, reason: str, **fields: Any) -> str:
    """The call did not happen: put the action back, to run again at ``until``."""
    reason = secrets_redact(reason)
    with transaction.atomic():
        action_record_decision(action=action, verdict=Verdict.DEFER, reason=reason, until=until)
        Action.all_workspaces.filter(pk=action.pk, state=ActionState.SENDING).update(
            state=ActionState.PLANNED, due_at=until, claimed_by="", lease_until=None, last_reason=reason[:500], **fields
        )
    return ActionState.PLANNED


def _not_sent(action: Action, now: datetime, error: NotSentError) -> str:
    """Nothing reached Instagram: the action is planned again, and the try counts for nothing.

    Recorded on the ledger as a deferral saying so ("not sent: Instagram unreachable"), with the count of
    consecutive such tries in the action's result. The start time the gate wrote goes (no per-account limit,
    cooldown, pattern or warm-up budget counts it); the safety engine then gives back the shared counter
    slots the allow took (``action_outcome_observe``, with the ``NotSentError``; the action in memory keeps
    its start time for that). Retried after ``RETRY_AFTER_NOT_SENT``, doubling up to ``RETRY_AFTER_NOT_SENT_MAX``.
    """
    tries = int((action.result or {}).get(NOT_SENT_TRIES, 0)) + 1
    wait = min(RETRY_AFTER_NOT_SENT_MAX, RETRY_AFTER_NOT_SENT * 2 ** min(tries - 1, 16))
    reason = f"not sent, trying again in {int(wait.total_seconds())} s (try {tries}): {error.message}"
    return _send_later(
        action, now + wait, reason, started_at=None, result={NOT_SENT_TRIES: tries, "not_sent": error.message}
    )


# Calls to Instagram in flight per dispatcher process. Instagram answers in
# 0.1–1 s: sending one action at a time would cap a dispatcher at a few actions/s.
SEND_THREADS = 8


class Senders:
    """A pool of threads that send actions already marked ``sending``, while the dispatcher gates the next ones.

    At most three times as many actions as threads are handed over, and the
    dispatcher claims again once ``batch`` (twice the threads) are free: an
    action waits for at most a couple of calls before its own, far inside its
    lease, and claims come in batches under load.
    Before calling Instagram a sender checks that the action is still its own
    and its lease still runs; an action whose lease has lapsed belongs to
    recovery (reconciled, never resent blindly), so it is left alone.

    ``Senders.inline()`` is a pool of one sender that works in the calling
    thread (its database connection and transaction: tests, one-off runs) and
    takes one action at a time: the call is made as the action is handed over,
    its outcome written by ``flush``.
    """

    def __init__(self, *, threads: int = SEND_THREADS, in_caller_thread: bool = False) -> None:
        self.threads = 1 if in_caller_thread else threads
        self.capacity = 1 if in_caller_thread else threads * 3  # handed over and not yet sent, at most
        self.batch = 1 if in_caller_thread else threads * 2
        self._in_caller_thread = in_caller_thread
        self._pool: Executor = (
            _InlineExecutor() if in_caller_thread else ThreadPoolExecutor(threads, thread_name_prefix="send")
        )
        self._in_flight: set[Future[None]] = set()
        self._outcomes = OutcomeWriter(thread=not in_caller_thread)

    @classmethod
    def inline(cls) -> Senders:
        """One sender in the calling thread, one action at a time (``dispatch_once`` without senders)."""
        return cls(in_caller_thread=True)

    def free(self) -> int:
        self._in_flight = {future for future in self._in_flight if not future.done()}
        return max(0, self.capacity - len(self._in_flight))

    def wait_for_one(self, timeout: float = 1.0) -> None:
        wait(self._in_flight, timeout=timeout, return_when=FIRST_COMPLETED)

    def submit(self, action: Action, *, worker_id: str) -> None:
        self._in_flight.add(self._pool.submit(_send_if_still_ours, action, worker_id, self._outcomes.add))

    def flush(self) -> None:
        """Finish what is in flight and write its outcomes (at once, in this thread)."""
        wait(self._in_flight)
        self._outcomes.flush()

    def close(self) -> None:
        """Finish what is in flight and write its outcomes, then close each thread's database connection."""
        wait(self._in_flight)
        self._outcomes.close()
        if self._in_caller_thread:
            return  # the calling thread's connection is the caller's
        barrier = threading.Barrier(self.threads)

        def close_connection() -> None:
            connection.close()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=5)  # one per thread: each holds on until all have closed theirs

        for _ in range(self.threads):
            self._pool.submit(close_connection)
        self._pool.shutdown(wait=True)


class OutcomeWriter:
    """Writes the senders' successes together: one statement every ``interval`` seconds (``actions_finish``).

    A sender hands its success over and goes on to its next call; a thread of
    its own writes what has gathered. Until then the action stays ``sending``
    under its lease, which is safe: should the process die first, recovery
    finds the lapsed lease and reconciles the action against Instagram (which
    shows the reply or message), never resending it. A write that fails is
    tried again at the next round. Why: one ``UPDATE`` per call was a fifth of
    a dispatcher's CPU, mostly spent building and quoting the statement.
    """

    def __init__(self, *, interval: float = 0.05, thread: bool = True) -> None:
        """``thread=False``: no thread of its own; what was handed over is written by ``flush`` (an inline pool)."""
        self.interval = interval
        self._pending: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True) if thread else None
        if self._thread is not None:
            self._thread.start()

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._pending.append(outcome)

    def close(self) -> None:
        """Write what is still pending, then stop."""
        self._stop.set()
        if self._thread is None:
            self.flush()
            return
        self._thread.join()

    def flush(self) -> None:
        """Write what is pending now, in the calling thread and its transaction (a failed write raises)."""
        with self._lock:
            outcomes, self._pending = self._pending, []
        if outcomes:
            actions_finish(outcomes)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._write()
            self._write()
        finally:
            connection.close()  # the thread's own connection

    def _write(self) -> None:
        with self._lock:
            outcomes, self._pending = self._pending, []
        if not outcomes:
            return
        try:
            actions_finish(outcomes)
        except Exception:
            logger.exception(
                "Writing %s outcomes failed; will try again (else recovery reconciles them)", len(outcomes)
            )
            connection.close()  # a new connection next time
            with self._lock:
                self._pending[:0] = outcomes


def _send_if_still_ours(action: Action, worker_id: str, finish: Callable[[Outcome], None]) -> None:
    """Send ``action`` unless its lease has lapsed since the gate marked it.

    No query: while the lease runs nothing but this dispatcher changes a
    ``sending`` action (recovery takes only lapsed leases), so the lease the
    gate wrote, kept on the action, says whether it is still ours.
    """
    with _action_bound(action):
        try:
            if action.lease_until is not None and action.lease_until > timezone.now():
                action_send(action=action, finish=finish)
            else:
                logger.warning(
                    "Action %s is no longer %s's to send (lease lapsed); recovery reconciles it", action.pk, worker_id
                )
        except Exception:
            logger.exception("Sending action %s failed; its lease makes recovery reconcile it", action.pk)


class _InlineExecutor(Executor):
    """Runs what it is handed at once, in the calling thread: a pool of one that is always free again."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # as a pool's thread would: kept on the future
            future.set_exception(exc)
        return future
