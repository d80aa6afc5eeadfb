"""Meta's callbacks acted on: deauthorization and data deletion requests.

Both callbacks name an Instagram user, not a workspace: the account (or the follower's conversations) may be in
any workspace, so the lookups here are cross-tenant (``all_workspaces``) and the erasure works across workspaces
(``privacy.erasure``). What each callback does is in docs/features/data-lifecycle.md ("Meta's callbacks").
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramAccount
from accounts.selectors import accounts_by_instagram_id
from instaforge.redaction import secrets_redact
from instaforge.tasks import enqueue, enqueue_with_commit
from privacy.audit import audit_entries_anonymize
from privacy.erasure import ErasureReport, account_disconnect, follower_erase
from privacy.models import DataDeletionRequest, DeletionState, DeletionSubject

logger = logging.getLogger(__name__)

DEAUTHORIZE_CAUSE = "removed the app on Instagram"
DEAUTHORIZE_REASON = "Meta's deauthorize callback: the account's owner removed InstaForge from the Instagram account"
DATA_DELETION_CAUSE = "data deletion request from Instagram"
DATA_DELETION_REASON = "Meta's data deletion callback: everything InstaForge held about the account is deleted"
DELETION_TASK = "privacy.tasks.deletion_request_run_task"
# A pending request this old is tried again by the schedule (its task failed, timed out, or its message was lost).
DELETION_RETRY_AFTER = timedelta(minutes=5)
DELETION_RETRY_BATCH = 50
# One run of a request at a time: the task's lease in the shared cache, a little above django-q2's task timeout.
DELETION_LEASE_SECONDS = 120


def account_deauthorize(*, ig_user_id: str) -> InstagramAccount | None:
    """Meta says the person removed the app from this Instagram account: disconnect it, keep its history.

    The token is destroyed, automation stops, the transition records the cause and the owners are emailed
    (``privacy.erasure.account_disconnect``; idempotent, so Meta calling twice changes nothing). Done inline:
    it is a few short writes on one account, and the token must stop being used now, not when a worker gets
    to it. Returns the account, or None when no connected account has this id (nothing to do).
    """
    account = accounts_by_instagram_id(instagram_id=ig_user_id).first()
    if account is None:
        logger.info("Deauthorize callback for an Instagram user id no account has: nothing to do")
        return None
    account_disconnect(
        account_id=account.pk,
        actor=None,
        cause=DEAUTHORIZE_CAUSE,
        reason=DEAUTHORIZE_REASON,
        delete_history=False,
        notify_owners=True,
    )
    logger.info("Account %s disconnected: its owner removed the app on Instagram", account.pk)
    return account


def deletion_request_open(*, ig_user_id: str) -> tuple[DataDeletionRequest, bool]:
    """The data deletion request for ``ig_user_id``: the pending one if there is one, else a new one, enqueued.

    Returns ``(request, created)``. The confirmation code is random (80 bits, hex: alphanumeric as Meta asks)
    and is the only key to the public status page. The deletion itself runs in a task after commit; the
    schedule (``deletion_requests_retry``) takes over if that task fails or is lost.
    """
    pending_of_user = DataDeletionRequest.objects.filter(ig_user_id=ig_user_id, state=DeletionState.PENDING)
    try:
        with transaction.atomic():
            pending = pending_of_user.select_for_update().order_by("requested_at", "id").first()
            if pending is not None:
                return pending, False
            subject = (
                DeletionSubject.ACCOUNT
                if accounts_by_instagram_id(instagram_id=ig_user_id).exists()
                else DeletionSubject.FOLLOWER
            )
            request = DataDeletionRequest.objects.create(
                confirmation_code=secrets.token_hex(10), ig_user_id=ig_user_id, subject=subject
            )
            enqueue_with_commit(DELETION_TASK, request.pk, robust=True)
    except IntegrityError:
        # Two callbacks for one person at the same moment: one pending request per person (a unique
        # constraint), so the second answers with the first one's code.
        return pending_of_user.get(), False
    logger.info("Data deletion request %s opened (%s)", request.pk, subject)
    return request, True


def _erase(*, ig_user_id: str) -> tuple[str, ErasureReport]:
    """Delete everything held about ``ig_user_id``; the subject it turned out to be, and the report.

    Decided now, not when the request came: the account may have been connected or deleted since. An account's
    own data goes with ``account_disconnect(delete_history=True)``; what other workspaces hold about the same
    person as a follower (their messages and comments to other accounts) goes with ``follower_erase`` either way.
    """
    report = ErasureReport()
    subject = DeletionSubject.FOLLOWER
    # The callback may name the account by its app-scoped id: what it wrote to other accounts is under its
    # Instagram user id (the id webhooks carry), so both are erased as a follower's.
    person_ids = {ig_user_id}
    account_ids: list[int] = []
    for account_id, account_ig_user_id in accounts_by_instagram_id(instagram_id=ig_user_id).values_list(
        "pk", "ig_user_id"
    ):
        subject = DeletionSubject.ACCOUNT
        person_ids.add(account_ig_user_id)
        account_ids.append(account_id)
        report = report.merged(
            account_disconnect(
                account_id=account_id,
                actor=None,
                cause=DATA_DELETION_CAUSE,
                reason=DATA_DELETION_REASON,
                delete_history=True,
                notify_owners=True,
            )
        )
    for person_id in sorted(person_ids - {""}):
        report = report.merged(follower_erase(ig_user_id=person_id))
    # The audit trail keeps its entries about the account (who disconnected or deleted what, when), not its name.
    anonymized = audit_entries_anonymize(account_ids=account_ids)
    if anonymized:
        report = report.merged(ErasureReport(counts={"audit_entries_anonymized": anonymized}))
    return subject, report


def deletion_request_run(*, request_id: int) -> str:
    """Run one data deletion request: erase, then mark it done. Safe to run twice; one run at a time.

    Done: the summary keeps the counts by kind and the Instagram user id is cleared (the record then names
    nobody). A failure keeps it pending with the error (redacted) and one more attempt; the schedule tries it
    again. Returns what happened, for the task's log.
    """
    lease = f"privacy:deletion-request:{request_id}"
    try:
        leased = cache.add(lease, 1, timeout=DELETION_LEASE_SECONDS)
    except Exception:  # an unreachable cache must not block a deletion: the erasure is idempotent anyway
        logger.warning("No lease for data deletion request %s: running without one", request_id, exc_info=True)
        leased = True
    if not leased:
        return "running elsewhere"
    try:
        return _deletion_request_run(request_id=request_id)
    finally:
        try:
            cache.delete(lease)
        except Exception:
            logger.warning("Could not release the lease of data deletion request %s", request_id, exc_info=True)


def _deletion_request_run(*, request_id: int) -> str:
    request = DataDeletionRequest.objects.filter(pk=request_id).first()
    if request is None or request.state != DeletionState.PENDING:
        return "nothing to do"
    DataDeletionRequest.objects.filter(pk=request_id).update(attempts=F("attempts") + 1)
    try:
        subject, report = _erase(ig_user_id=request.ig_user_id)
    except Exception as exc:
        error = secrets_redact(f"{type(exc).__name__}: {exc}")[:500]
        DataDeletionRequest.objects.filter(pk=request_id, state=DeletionState.PENDING).update(error=error)
        logger.warning(
            "Data deletion request %s failed; it stays pending and is tried again", request_id, exc_info=True
        )
        return "failed"
    DataDeletionRequest.objects.filter(pk=request_id, state=DeletionState.PENDING).update(
        state=DeletionState.DONE,
        subject=subject,
        completed_at=timezone.now(),
        summary=report.counts,
        ig_user_id="",
        error="",
    )
    logger.info("Data deletion request %s done: %s", request_id, report.counts or "nothing was held")
    return "done"


def deletion_requests_retry(*, now: datetime | None = None) -> int:
    """Enqueue again the requests still pending ``DELETION_RETRY_AFTER`` after they came. Returns how many."""
    now = now or timezone.now()
    ids = list(
        DataDeletionRequest.objects.filter(state=DeletionState.PENDING, requested_at__lt=now - DELETION_RETRY_AFTER)
        .order_by("requested_at", "id")
        .values_list("pk", flat=True)[:DELETION_RETRY_BATCH]
    )
    for request_id in ids:
        enqueue(DELETION_TASK, request_id)
    if ids:
        logger.info("Data deletion requests tried again: %d", len(ids))
    return len(ids)
