"""The dispatcher: claims due actions, asks the gate, hands allowed ones to the executor.

Any number of dispatchers may run on any number of hosts. Claiming uses
``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL) and
a conditional ``UPDATE … WHERE state = 'planned'`` elsewhere (SQLite). The
intent (state ``sending``) is committed before Instagram is called; a process
that dies after that leaves an action whose lease expires and whose outcome is
then reconciled against Instagram, never resent blindly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.services import ForbiddenTransition, account_mark_error
from accounts.vault import TokenDecryptionError
from actions.executor import action_execute, action_reconcile
from actions.models import Action, ActionDecision, ActionState, Verdict
from actions.services import Outcome, action_finish, action_record_decision, actions_finish
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
from safety.cooldowns import backoff_success_record
from safety.counters import counters_prune
from safety.decision import Decision
from safety.gate import gate_allow_undo, gate_evaluate_many
from safety.risk import action_error_observe, risks_refresh_stale
from safety.services import rate_limit_observe

logger = logging.getLogger(__name__)

# Not sent (Instagram unreachable: refused, no DNS, no connection in time): tried again after 15 s, doubling
# with each consecutive not-sent try up to 5 minutes, for as long as it takes. Never failed for that alone:
# nothing reached Instagram, so nothing is lost by waiting, and nothing is silently dropped.
RETRY_AFTER_NOT_SENT = timedelta(seconds=15)
RETRY_AFTER_NOT_SENT_MAX = timedelta(minutes=5)
NOT_SENT_TRIES = "not_sent_tries"  # in the result of a planned action: consecutive tries that reached no one
RETRY_AFTER_RATE_LIMIT = timedelta(minutes=5)
RETRY_AFTER_TOKEN_ERROR = timedelta(minutes=5)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def _lease(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.DISPATCHER_LEASE_SECONDS)


def _due(now: datetime) -> QuerySet[Action]:
    """The planned actions due by ``now``, in the order they are claimed (the due index's order)."""
    return Action.all_workspaces.filter(state=ActionState.PLANNED, due_at__lte=now).order_by("due_at", "id")


def actions_claim_due(*, worker_id: str, now: datetime, limit: int = 20) -> list[int]:
    """Claim up to ``limit`` due planned actions for this worker; no action is claimed twice."""
    due = _due(now)
    claim = {"state": ActionState.CLAIMED, "claimed_by": worker_id, "lease_until": _lease(now)}
    if connection.features.has_select_for_update_skip_locked:
        # Also skip the actions of accounts another dispatcher is gating (their rows are locked until it
        # commits): it would only wait for them.
        with transaction.atomic():
            rows = due.select_related("account").select_for_update(skip_locked=True, of=("self", "account"))
            ids = [action.pk for action in rows.only("id", "account__id")[:limit]]
            Action.all_workspaces.filter(pk__in=ids).update(**claim)
        return ids
    claimed = []
    for action_id in due.values_list("pk", flat=True)[:limit]:
        # Re-check "due" too: another dispatcher may have claimed, deferred and re-planned it meanwhile.
        if due.filter(pk=action_id).update(**claim):
            claimed.append(action_id)
    return claimed


def action_gate_and_mark(*, action_id: int, worker_id: str, now: datetime) -> Action | None:
    """Ask the gate about one claimed action (see ``actions_gate_and_mark``). Returns it if it may be sent now."""
    allowed = actions_gate_and_mark(action_ids=[action_id], worker_id=worker_id, now=now)
    return allowed[0] if allowed else None


def actions_gate_and_mark(*, action_ids: list[int], worker_id: str, now: datetime) -> list[Action]:
    """Ask the gate about claimed actions and record each verdict. Returns those that may be sent now.

    One transaction for the lot. It holds the accounts' row locks (taken
    together, in account order, as every dispatcher takes them: no deadlock),
    so two dispatchers never both count the same free slot of one account; the
    gate takes the shared (platform, workspace) counter slots in this same
    transaction, after every account lock, so an allow and its count commit
    together or not at all. The actions are gated in rounds of at most one
    per account (``gate_evaluate_many``: one ledger query and one counter
    statement per round), and a round's verdicts are applied before the next
    round is gated, so a later action of an account counts the earlier ones;
    the decisions are written together at the end.
    """
    if not action_ids:
        return []
    with transaction.atomic():
        # One query: the actions with their accounts and the accounts' usage rows (regain time, risk,
        # backoff), the accounts' rows locked (PostgreSQL; SQLite serialises writers anyway).
        actions = (
            Action.all_workspaces.select_related("account", "account__usage")
            .select_for_update(of=("account",))
            .filter(pk__in=action_ids, state=ActionState.CLAIMED, claimed_by=worker_id)
            .order_by("account_id", "id")
        )
        return _gate_locked(list(actions), worker_id=worker_id, now=now)


def actions_claim_and_gate(*, worker_id: str, now: datetime, limit: int = 20) -> tuple[int, list[Action]]:
    """Claim up to ``limit`` due actions and gate them: ``(how many were claimed, those that may be sent now)``.

    On PostgreSQL in one transaction and one read: the due actions and their
    accounts are locked with ``FOR UPDATE SKIP LOCKED`` (another dispatcher
    skips both until this one commits, as it would skip claimed actions) and
    gated at once, so they go from planned straight to their verdict. Should
    the process die meanwhile, the transaction rolls back and they are simply
    due again. Why: the separate claim (a read, an update, a commit, then the
    gate's read of the same rows) cost a dispatcher a tenth of its CPU.
    Elsewhere (SQLite) the claim is its own conditional update, as in
    ``actions_claim_due``, then ``actions_gate_and_mark``.
    """
    if not connection.features.has_select_for_update_skip_locked:
        claimed = actions_claim_due(worker_id=worker_id, now=now, limit=limit)
        return len(claimed), actions_gate_and_mark(action_ids=claimed, worker_id=worker_id, now=timezone.now())
    due = _due(now)
    with transaction.atomic():
        rows = due.select_related("account", "account__usage").select_for_update(
            skip_locked=True, of=("self", "account")
        )
        actions = sorted(rows[:limit], key=lambda action: (action.account_id, action.pk))
        return len(actions), _gate_locked(actions, worker_id=worker_id, now=timezone.now())


def _gate_locked(actions: list[Action], *, worker_id: str, now: datetime) -> list[Action]:
    """Gate ``actions`` (their accounts locked by the caller's transaction), record verdicts and decisions."""
    allowed: list[Action] = []
    decisions: list[ActionDecision] = []
    for batch in _rounds(actions):
        verdicts = gate_evaluate_many(actions=batch, now=now)
        _verdicts_apply(list(zip(batch, verdicts, strict=True)), worker_id=worker_id, now=now)
        for action, decision in zip(batch, verdicts, strict=True):
            decisions.append(
                ActionDecision(
                    workspace_id=action.workspace_id,
                    action=action,
                    verdict=decision.verdict,
                    reason=decision.reason[:500],
                    until=decision.until,
                )
            )
            if decision.verdict == Verdict.ALLOW:
                action.state, action.started_at = ActionState.SENDING, now  # as _verdicts_apply wrote them
                allowed.append(action)
    ActionDecision.all_workspaces.bulk_create(decisions)
    return allowed


def _rounds(actions: list[Action]) -> list[list[Action]]:
    """The actions in rounds: the first of each account, then the second of each, and so on (order kept)."""
    rounds: list[list[Action]] = []
    seen: dict[int, int] = {}
    for action in actions:
        position = seen.get(action.account_id, 0)
        seen[action.account_id] = position + 1
        if position == len(rounds):
            rounds.append([])
        rounds[position].append(action)
    return rounds


def _verdicts_apply(verdicts: list[tuple[Action, Decision]], *, worker_id: str, now: datetime) -> None:
    """Record the gate's verdicts on the actions: a statement per distinct verdict and reason, deferrals in one."""
    deferred = []
    same: dict[tuple[str, str], list[int]] = {}
    lease = _lease(now)
    for action, decision in verdicts:
        if decision.verdict == Verdict.DEFER:
            assert decision.until is not None
            action.state, action.due_at, action.claimed_by = ActionState.PLANNED, decision.until, ""
            action.lease_until, action.last_reason = None, decision.reason[:500]
            deferred.append(action)
        else:
            # The lease as written below: the sender trusts it instead of reading the row again.
            action.lease_until = lease if decision.verdict == Verdict.ALLOW else None
            action.claimed_by = worker_id
            same.setdefault((decision.verdict, decision.reason[:500]), []).append(action.pk)
    _deferrals_write(deferred)
    for (verdict, reason), ids in same.items():
        if verdict == Verdict.DENY:
            Action.all_workspaces.filter(pk__in=ids).update(
                state=ActionState.DENIED, last_reason=reason, finished_at=now, lease_until=None
            )
        else:
            Action.all_workspaces.filter(pk__in=ids).update(
                state=ActionState.SENDING,
                claimed_by=worker_id,
                started_at=now,
                attempts=F("attempts") + 1,
                lease_until=lease,
                last_reason=reason,
            )


# Deferrals that share a time and reason (a shared cap, a kill switch) are written with one UPDATE each
# set; more different ones than this go in one bulk_update, whose CASE per row costs more to build.
DEFERRAL_SETS_UPDATED_APART = 3


def _deferrals_write(deferred: list[Action]) -> None:
    """Write the deferred actions back to planned, with their new due time and reason."""
    sets: dict[tuple[datetime, str], list[int]] = {}
    for action in deferred:
        sets.setdefault((action.due_at, action.last_reason), []).append(action.pk)
    if len(sets) > DEFERRAL_SETS_UPDATED_APART:
        fields = ["state", "due_at", "claimed_by", "lease_until", "last_reason"]
        Action.all_workspaces.bulk_update(deferred, fields)
        return
    for (until, reason), ids in sets.items():
        Action.all_workspaces.filter(pk__in=ids).update(
            state=ActionState.PLANNED, due_at=until, claimed_by="", lease_until=None, last_reason=reason
        )


def _finish_now(outcome: Outcome) -> None:
    actions_finish([outcome])


def action_send(*, action: Action, finish: Callable[[Outcome], None] = _finish_now) -> str:
    """Call Instagram for an action marked ``sending`` and record what happened. Returns the new state.

    The outcome goes on the ledger first; then the safety engine learns from it
    (``safety.risk.action_error_observe``: events, risk score, backoff,
    suspension with evidence). ``finish`` records a success: at once, or
    handed to the senders' ``OutcomeWriter``.
    """
    state, error = _send(action, finish)
    if error is not None:
        try:
            action_error_observe(action=action, error=error)
        except Exception:
            logger.exception("The safety engine could not learn from the error of action %s", action.pk)
    elif state == ActionState.SUCCEEDED:
        backoff_success_record(action=action)
    return state


def _send(action: Action, finish: Callable[[Outcome], None]) -> tuple[str, GraphAPIError | None]:
    now = timezone.now()
    try:
        result = action_execute(action=action)
    except OutcomeUnknownError as exc:
        Action.all_workspaces.filter(pk=action.pk, state=ActionState.SENDING).update(
            state=ActionState.UNKNOWN,
            last_reason=secrets_redact(f"no answer from Instagram: {exc}")[:500],
            lease_until=None,
        )
        return ActionState.UNKNOWN, exc
    except NotSentError as exc:
        # Not an error of Instagram's and not the account's: no event, no risk, no backoff (no ``error``).
        return _not_sent(action, now, exc), None
    except RateLimitedError as exc:
        rate_limit_observe(account_id=action.account_id, code=exc.code, retry_after_seconds=exc.retry_after_seconds)
        reason = f"Instagram rate limit (code {exc.code}): {exc.message}"
        return _send_later(action, now + RETRY_AFTER_RATE_LIMIT, reason), exc
    except (TokenInvalidError, TokenDecryptionError) as exc:
        reason = f"Instagram rejected the token: {exc}"
        with contextlib.suppress(ForbiddenTransition):
            account_mark_error(account_id=action.account_id, reason=reason[:500])
        later = _send_later(action, now + RETRY_AFTER_TOKEN_ERROR, reason + " (kept until the account is reconnected)")
        return later, exc if isinstance(exc, GraphAPIError) else None
    except PolicyBlockedError as exc:
        # The account is suspended for review with the evidence by the safety engine (action_error_observe).
        reason = f"Instagram blocked the action for policy reasons (code 368): {exc.message}"
        later = _send_later(
            action, now + RETRY_AFTER_TOKEN_ERROR, reason + " (kept until an operator has reviewed the account)"
        )
        return later, exc
    except TransientError as exc:
        # A 5xx or a broken answer after sending: Instagram may have acted. Reconcile, never resend blindly.
        Action.all_workspaces.filter(pk=action.pk, state=ActionState.SENDING).update(
            state=ActionState.UNKNOWN,
            last_reason=secrets_redact(f"unclear answer from Instagram: {exc}")[:500],
            lease_until=None,
        )
        return ActionState.UNKNOWN, exc
    except GraphAPIError as exc:
        action_finish(
            action_id=action.pk, state=ActionState.FAILED, result={"error": exc.as_dict()}, reason=exc.message
        )
        return ActionState.FAILED, exc
    finish(Outcome(action_id=action.pk, state=ActionState.SUCCEEDED, result=result, reason="sent"))
    return ActionState.SUCCEEDED, None


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
    consecutive such tries in the action's result. The try is undone for the safety engine: the start time
    the gate wrote goes (no per-account limit, cooldown, pattern or warm-up budget counts it) and the shared
    counter slots the allow took are given back (``gate_allow_undo``). Retried after
    ``RETRY_AFTER_NOT_SENT``, doubling up to ``RETRY_AFTER_NOT_SENT_MAX``.
    """
    tries = int((action.result or {}).get(NOT_SENT_TRIES, 0)) + 1
    wait = min(RETRY_AFTER_NOT_SENT_MAX, RETRY_AFTER_NOT_SENT * 2 ** min(tries - 1, 16))
    reason = f"not sent, trying again in {int(wait.total_seconds())} s (try {tries}): {error.message}"
    started_at = action.started_at
    with transaction.atomic():
        state = _send_later(
            action, now + wait, reason, started_at=None, result={NOT_SENT_TRIES: tries, "not_sent": error.message}
        )
        try:
            with transaction.atomic():
                gate_allow_undo(action=action, started_at=started_at)
        except Exception:  # a slot kept is only a slot less this hour: never worth losing the deferral for
            logger.exception("Giving back the counter slots of action %s failed", action.pk)
    return state


def leases_recover(*, now: datetime) -> tuple[int, int]:
    """Release the claims of dead dispatchers.

    A claim that never sent returns to planned; one that was sending becomes unknown.
    """
    released = Action.all_workspaces.filter(state=ActionState.CLAIMED, lease_until__lt=now).update(
        state=ActionState.PLANNED, claimed_by="", lease_until=None
    )
    unknown = Action.all_workspaces.filter(state=ActionState.SENDING, lease_until__lt=now).update(
        state=ActionState.UNKNOWN, lease_until=None, last_reason="the dispatcher stopped while sending"
    )
    return released, unknown


def actions_reconcile_unknown(*, worker_id: str, now: datetime, limit: int = 10) -> int:
    """Ask Instagram what became of actions whose outcome is unknown; resend only what is confirmed missing."""
    done = 0
    candidates = Action.all_workspaces.filter(state=ActionState.UNKNOWN).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    for action_id in candidates.values_list("pk", flat=True)[:limit]:
        taken = (
            Action.all_workspaces.filter(pk=action_id, state=ActionState.UNKNOWN)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .update(claimed_by=worker_id, lease_until=_lease(now))
        )
        if not taken:
            continue
        action = Action.all_workspaces.select_related("account").get(pk=action_id)
        try:
            found = action_reconcile(action=action)
        except (GraphAPIError, TokenDecryptionError) as exc:
            logger.warning("Reconciling action %s failed, will try again: %s", action_id, exc)
            continue
        if found.happened:
            action_finish(
                action_id=action_id,
                state=ActionState.SUCCEEDED,
                result=found.result,
                reason="reconciled: Instagram shows it was sent",
            )
        else:
            with transaction.atomic():
                reason = "reconciled: Instagram shows it was not sent; sending again"
                action_record_decision(action=action, verdict=Verdict.DEFER, reason=reason, until=now)
                Action.all_workspaces.filter(pk=action_id, state=ActionState.UNKNOWN).update(
                    state=ActionState.PLANNED, due_at=now, claimed_by="", lease_until=None, last_reason=reason
                )
        done += 1
    return done


def dispatch_once(
    *, worker_id: str, now: datetime | None = None, limit: int = 20, senders: Senders | None = None
) -> int:
    """One pass: claim due actions, gate them, send the allowed ones. Returns how many were claimed.

    Without ``senders`` each allowed action is sent before the next is gated
    (tests, one-off runs: an error's backoff applies to the next); with them,
    the due actions are claimed and gated together (``actions_claim_and_gate``),
    their sends run in the pool while this thread claims and gates the next
    ones, and no more is claimed than the pool can take.
    """
    now = now or timezone.now()
    if senders is not None:
        free = senders.free()
        if free < min(limit, senders.batch):
            # Busy: claim again once a batch's worth of room is free, not one action at a time (most of what
            # a claim and its gate cost is per statement, not per action).
            senders.wait_for_one()
            return 1  # busy, not idle: come back at once
        limit = min(limit, free)
    if senders is None:
        claimed = actions_claim_due(worker_id=worker_id, now=now, limit=limit)
        for action_id in claimed:
            action = action_gate_and_mark(action_id=action_id, worker_id=worker_id, now=timezone.now())
            if action is not None:
                action_send(action=action)
        return len(claimed)
    count, allowed = actions_claim_and_gate(worker_id=worker_id, now=now, limit=limit)
    for action in allowed:
        senders.submit(action, worker_id=worker_id)
    return count


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
    """

    def __init__(self, *, threads: int = SEND_THREADS) -> None:
        self.threads = threads
        self.batch = threads * 2
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="send")
        self._in_flight: set[Future[None]] = set()
        self._outcomes = OutcomeWriter()

    def free(self) -> int:
        self._in_flight = {future for future in self._in_flight if not future.done()}
        return max(0, self.threads * 3 - len(self._in_flight))

    def wait_for_one(self, timeout: float = 1.0) -> None:
        wait(self._in_flight, timeout=timeout, return_when=FIRST_COMPLETED)

    def submit(self, action: Action, *, worker_id: str) -> None:
        self._in_flight.add(self._pool.submit(_send_if_still_ours, action, worker_id, self._outcomes.add))

    def close(self) -> None:
        """Finish what is in flight and write its outcomes, then close each thread's database connection."""
        wait(self._in_flight)
        self._outcomes.close()
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

    def __init__(self, *, interval: float = 0.05) -> None:
        self.interval = interval
        self._pending: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outcomes", daemon=True)
        self._thread.start()

    def add(self, outcome: Outcome) -> None:
        with self._lock:
            self._pending.append(outcome)

    def close(self) -> None:
        """Write what is still pending, then stop."""
        self._stop.set()
        self._thread.join()

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
    try:
        if action.lease_until is not None and action.lease_until > timezone.now():
            action_send(action=action, finish=finish)
        else:
            logger.warning(
                "Action %s is no longer %s's to send (lease lapsed); recovery reconciles it", action.pk, worker_id
            )
    except Exception:
        logger.exception("Sending action %s failed; its lease makes recovery reconcile it", action.pk)


def dispatcher_run(
    *,
    stop: threading.Event,
    worker_id: str | None = None,
    poll_seconds: float | None = None,
    send_threads: int = SEND_THREADS,
) -> None:
    """Run until ``stop`` is set. Housekeeping (leases, reconciliation) every few seconds."""
    worker_id = worker_id or worker_name()
    poll = settings.DISPATCHER_POLL_SECONDS if poll_seconds is None else poll_seconds
    next_housekeeping = 0.0
    senders = Senders(threads=send_threads)
    logger.info("Dispatcher %s started", worker_id)
    try:
        while not stop.is_set():
            try:
                if time.monotonic() >= next_housekeeping:
                    close_old_connections()
                    leases_recover(now=timezone.now())
                    actions_reconcile_unknown(worker_id=worker_id, now=timezone.now())
                    counters_prune(now=timezone.now())
                    risks_refresh_stale(now=timezone.now())
                    next_housekeeping = time.monotonic() + 5
                if dispatch_once(worker_id=worker_id, senders=senders) == 0:
                    stop.wait(poll)
            except Exception:
                logger.exception("Dispatcher pass failed; retrying")
                close_old_connections()
                stop.wait(max(poll, 1.0))
    finally:
        senders.close()
        connection.close()  # a thread's connection is its own: give it back
    logger.info("Dispatcher %s stopped", worker_id)
