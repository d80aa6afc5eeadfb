"""Retention: each kind of data pruned after its period, in small batches (docs/features/data-lifecycle.md).

Every kind has a period in settings (``RETENTION_*_DAYS``; 0 keeps it forever). A run walks each kind's old
rows in primary-key order, a batch at a time: it reads a batch of ids, then deletes those still prunable in a
transaction of their own that locks only them (``select_for_update(skip_locked=True)``: a row the dispatcher
or a worker holds is left for the next run). Nothing waits on a long lock, and a run stops after
``RETENTION_MAX_SECONDS`` leaving the rest to the next one.

What exactly-once needs is never pruned (``_KINDS`` says it per kind):

- an action that is not finished (planned, claimed, sending, unknown): the dispatcher or the reconciler still
  owns it; an action planned from a comment that is still kept (a person's later decision on the comment counts
  them in its idempotency key); the newest ice-breaker update of an account (it tells whether Instagram has
  them); the steps of a post still scheduled or publishing;
- an inbound event still pending or processing (the sweeper re-enqueues it, up to its last attempt);
- and every period of the kinds that recognise a redelivered webhook (inbound events, comments, messages,
  actions) is at least Meta's retry horizon plus a day (settings refuse shorter): past it, ``webhook_store``
  refuses the change as stale, so a pruned row can never be "new" again;
- a CRM delivery still pending or sending, an open alert and its unsent notifications, a deletion request not
  done, a suspension's evidence while the account is still suspended, a flagged comment waiting for a person.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from auditlog.models import LogEntry
from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionDecision, ActionState
from alerts.models import Alert, AlertNotification, NotificationState
from engagement.models import Comment, ReviewState
from instagram.models import InboundEvent, InboundEventState
from instagram.services import MAX_PROCESSING_ATTEMPTS
from integrations.models import DeliveryState, WebhookDelivery
from messaging.models import ACTIVE_RUN_STATUSES, Conversation, ConversationEvent, FlowRun, Message
from observability.metrics import RETENTION_PRUNED
from privacy.models import DataDeletionRequest, DeletionState
from publishing.models import PostEvent, PostState, ScheduledPost
from safety.models import SafetyEvent, SafetyEventKind

logger = logging.getLogger(__name__)

# The ledger's states the dispatcher and the reconciler are done with.
TERMINAL_ACTION_STATES = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED)
# An inbound event nobody will process again: handled, ignored, or failed (the task records the failure and
# the sweeper only re-enqueues pending and processing events); or still marked processing after the sweeper's
# last attempt (``MAX_PROCESSING_ATTEMPTS``: its worker died every time, and nothing takes it again).
FINISHED_EVENT_STATES = (InboundEventState.PROCESSED, InboundEventState.IGNORED, InboundEventState.FAILED)
# A post whose steps may still be planned again under the same idempotency keys.
POST_IN_FLIGHT_STATES = (PostState.SCHEDULED, PostState.PUBLISHING)


@dataclass(frozen=True)
class RetentionKind:
    """One kind of data: its rows, the setting of its period, the date it ages by, and what is never pruned.

    ``prunable``: the rows that may go at all once old (a filter on the kind's rows, given the cutoff).
    ``keep``: a further check over a batch of candidates (their ``keep_fields``) that returns the ids to keep,
    for rules a filter cannot say cheaply. ``pk_follows_date``: rows are written in date order (the date is
    when the row was written), so the old rows are the ids below the first young one and a run reads only those.
    """

    name: str
    setting: str
    manager: Callable[[], models.QuerySet[Any]]
    date_field: str
    prunable: Callable[[datetime], Q]
    pk_follows_date: bool = True
    keep: Callable[[list[dict[str, Any]]], set[int]] | None = None
    keep_fields: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        days: int = getattr(settings, self.setting)
        return days


def _actions_kept(rows: list[dict[str, Any]]) -> set[int]:
    """Of finished old actions, those whose idempotency key or outcome something still relies on."""
    kept: set[int] = set()
    by_source: dict[str, dict[str, list[int]]] = {}
    for row in rows:
        if row["source_id"].isdigit():
            by_source.setdefault(row["source_kind"], {}).setdefault(row["source_id"], []).append(row["pk"])
    # A person's decision on a comment plans "<type>:<comment>:review<n>", n counting the comment's actions:
    # with one of them gone, n would name a kept action and the decision would be swallowed. They go together.
    comments = by_source.get("comment", {})
    if comments:
        alive = Comment.all_workspaces.filter(pk__in=[int(pk) for pk in comments]).values_list("pk", flat=True)
        kept.update(pk for comment_id in alive for pk in comments[str(comment_id)])
    # The newest update of an account's ice breakers says whether Instagram has them (messaging.ice_breakers).
    ice_breakers = by_source.get("ice_breakers", {})
    if ice_breakers:
        newest = (
            Action.all_workspaces.filter(source_kind="ice_breakers", source_id__in=list(ice_breakers))
            .values("source_id")
            .annotate(newest=Max("pk"))
            .values_list("newest", flat=True)
        )
        kept.update(newest)
    # A post still scheduled or publishing may plan a step again under the same key (publishing.services).
    posts = by_source.get("post", {})
    if posts:
        in_flight = ScheduledPost.all_workspaces.filter(
            pk__in=[int(pk) for pk in posts], state__in=POST_IN_FLIGHT_STATES
        ).values_list("pk", flat=True)
        kept.update(pk for post_id in in_flight for pk in posts[str(post_id)])
    return kept


def _anything(cutoff: datetime) -> Q:
    """Every old row of the kind may go: nothing relies on it."""
    return Q()


_KINDS: tuple[RetentionKind, ...] = (
    RetentionKind(
        "inbound_events",
        "RETENTION_INBOUND_EVENTS_DAYS",
        InboundEvent.objects.all,
        "received_at",
        lambda cutoff: (
            Q(state__in=FINISHED_EVENT_STATES)
            | Q(state=InboundEventState.PROCESSING, attempts__gte=MAX_PROCESSING_ATTEMPTS)
        ),
    ),
    RetentionKind(
        "crm_deliveries",
        "RETENTION_CRM_DELIVERIES_DAYS",
        WebhookDelivery.all_workspaces.all,
        "created_at",
        lambda cutoff: Q(state__in=[DeliveryState.SUCCEEDED, DeliveryState.FAILED]),
    ),
    # The gate's verdicts; the ledger keeps each action's row and outcome for its own period.
    RetentionKind("decisions", "RETENTION_DECISIONS_DAYS", ActionDecision.all_workspaces.all, "at", _anything),
    RetentionKind(
        "comments",
        "RETENTION_COMMENTS_DAYS",
        Comment.all_workspaces.all,
        "received_at",
        lambda cutoff: ~Q(review_state=ReviewState.FLAGGED),
    ),
    # Before the actions: a message points at its action (SET_NULL), so this spares those updates. A reply
    # still being sent or reconciled keeps its message (an echo from Instagram is matched to it).
    RetentionKind(
        "messages",
        "RETENTION_MESSAGES_DAYS",
        Message.all_workspaces.all,
        "created_at",
        lambda cutoff: Q(action__isnull=True) | Q(action__state__in=TERMINAL_ACTION_STATES),
    ),
    # A conversation with no message left, silent for the messages' period, and no flow still running: its
    # person's name and id, notes and events go with it.
    RetentionKind(
        "conversations",
        "RETENTION_MESSAGES_DAYS",
        Conversation.all_workspaces.all,
        "created_at",
        lambda cutoff: (
            (Q(last_message_at__isnull=True) | Q(last_message_at__lt=cutoff))
            & ~Exists(Message.all_workspaces.filter(conversation=OuterRef("pk")))
            & ~Exists(FlowRun.all_workspaces.filter(conversation=OuterRef("pk"), status__in=ACTIVE_RUN_STATUSES))
        ),
    ),
    RetentionKind(
        "actions",
        "RETENTION_ACTIONS_DAYS",
        Action.all_workspaces.all,
        "created_at",
        lambda cutoff: Q(state__in=TERMINAL_ACTION_STATES),
        keep=_actions_kept,
        keep_fields=("source_kind", "source_id"),
    ),
    RetentionKind(
        "conversation_events",
        "RETENTION_CONVERSATION_EVENTS_DAYS",
        ConversationEvent.all_workspaces.all,
        "created_at",
        _anything,
    ),
    RetentionKind("post_events", "RETENTION_POST_EVENTS_DAYS", PostEvent.all_workspaces.all, "at", _anything),
    # A suspended account's suspension is the evidence its review shows (safety.selectors).
    RetentionKind(
        "safety_events",
        "RETENTION_SAFETY_EVENTS_DAYS",
        SafetyEvent.all_workspaces.all,
        "at",
        lambda cutoff: ~Q(kind=SafetyEventKind.SUSPENSION, account__state=AccountState.SUSPENDED),
    ),
    # Alerts resolved that long ago (an open one is never old), with their notifications.
    RetentionKind(
        "alerts",
        "RETENTION_ALERTS_DAYS",
        Alert.all_workspaces.all,
        "resolved_at",
        lambda cutoff: Q(
            ~Exists(AlertNotification.all_workspaces.filter(alert=OuterRef("pk"), state=NotificationState.PENDING))
        ),
        pk_follows_date=False,
    ),
    # Done requests only: a pending or failed one is still to be carried out (and its status page asked for).
    RetentionKind(
        "deletion_requests",
        "RETENTION_DELETION_REQUESTS_DAYS",
        DataDeletionRequest.objects.all,
        "completed_at",
        lambda cutoff: Q(state=DeletionState.DONE),
        pk_follows_date=False,
    ),
    RetentionKind("audit_log", "RETENTION_AUDIT_LOG_DAYS", LogEntry.objects.all, "timestamp", _anything),
)


def retention_kinds() -> tuple[RetentionKind, ...]:
    """The kinds in the order a run prunes them (comments before the actions that depend on them)."""
    return _KINDS


def _candidates(kind: RetentionKind, *, cutoff: datetime) -> models.QuerySet[Any]:
    """The kind's rows older than ``cutoff`` that its rules allow to go (before ``keep``)."""
    return kind.manager().filter(**{f"{kind.date_field}__lt": cutoff}).filter(kind.prunable(cutoff))


def _first_young_pk(kind: RetentionKind, *, cutoff: datetime) -> int | None:
    """The lowest id of a row that is not old yet: every old row worth reading this run lies below it.

    A short read in steady state: the primary key's index is walked from the start past the few old rows that
    are kept, to the first young one (rows are written in date order). Without it, the last batch of a run
    would read every young row of the table to find none.
    """
    pk: int | None = (
        kind.manager().filter(**{f"{kind.date_field}__gte": cutoff}).order_by("pk").values_list("pk", flat=True).first()
    )
    return pk


def _batches(kind: RetentionKind, *, cutoff: datetime, batch_size: int) -> Iterator[list[int]]:
    """The ids to delete of each batch read, in primary-key order, until the old rows are all read."""
    candidates = _candidates(kind, cutoff=cutoff)
    if kind.pk_follows_date:
        below = _first_young_pk(kind, cutoff=cutoff)
        if below is not None:
            candidates = candidates.filter(pk__lt=below)
    after = 0
    while True:
        rows = list(candidates.filter(pk__gt=after).order_by("pk").values("pk", *kind.keep_fields)[:batch_size])
        if not rows:
            return
        after = rows[-1]["pk"]
        kept = kind.keep(rows) if kind.keep is not None else set()
        yield [row["pk"] for row in rows if row["pk"] not in kept]
        if len(rows) < batch_size:
            return


def _batch_delete(kind: RetentionKind, *, ids: list[int], cutoff: datetime) -> int:
    """Delete those of ``ids`` still prunable, in one short transaction; returns the kind's rows deleted.

    The rows are locked first, skipping any another process holds, and the kind's rules are checked again
    under the lock: an action reconciled, a delivery retried or an event re-enqueued since the read stays.
    """
    with transaction.atomic():
        locked = list(
            _candidates(kind, cutoff=cutoff)
            .filter(pk__in=ids)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
        )
        if not locked:
            return 0
        _, per_model = kind.manager().filter(pk__in=locked).delete()
    label = kind.manager().model._meta.label
    return per_model.get(label, 0)


def retention_prune(
    *,
    now: datetime | None = None,
    batch_size: int | None = None,
    max_seconds: float | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Delete, kind by kind, the rows older than the kind's period that nothing relies on. Returns the counts.

    A count per kind whose period is set (0, forever: left out). Each batch is its own transaction, so a run
    stopped at any point (``max_seconds``, a crash) leaves every row either kept or gone, never half of a
    batch. After ``max_seconds`` (``RETENTION_MAX_SECONDS``) it stops between batches; the next run goes on
    where the oldest rows are. ``dry_run`` reads the same batches and deletes nothing: the counts are what
    would go. Safe to run twice and concurrently (a row locked by the other run is skipped).
    """
    now = now or timezone.now()
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    max_seconds = settings.RETENTION_MAX_SECONDS if max_seconds is None else max_seconds
    deadline = time.monotonic() + max_seconds
    counts: dict[str, int] = {}
    stopped = False
    batches_read = 0  # a run reads at least one batch, whatever its time: each run moves on
    for kind in _KINDS:
        stopped = stopped or (not dry_run and batches_read > 0 and time.monotonic() >= deadline)
        if kind.days <= 0 or stopped:
            continue
        cutoff = now - timedelta(days=kind.days)
        pruned = 0
        for ids in _batches(kind, cutoff=cutoff, batch_size=batch_size):
            batches_read += 1
            if ids:
                pruned += len(ids) if dry_run else _batch_delete(kind, ids=ids, cutoff=cutoff)
            if not dry_run and time.monotonic() >= deadline:
                stopped = True
                break
        counts[kind.name] = pruned
        if not dry_run and pruned:
            RETENTION_PRUNED.labels(kind=kind.name).inc(pruned)
        logger.info(
            "Retention %s %d %s older than %d days%s",
            "would prune" if dry_run else "pruned",
            pruned,
            kind.name.replace("_", " "),
            kind.days,
            "; stopped for this run, the rest goes next time" if stopped else "",
            extra={"retention_kind": kind.name, "pruned": pruned},
        )
    return counts


def retention_prune_task() -> dict[str, int]:
    """The schedule's task ("privacy: prune by retention"): one bounded run with the settings' sizes."""
    return retention_prune()
