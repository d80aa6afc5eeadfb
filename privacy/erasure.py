"""Erasing data: an account disconnected (its history kept or deleted), a workspace, a follower.

Three services, called by the owners' pages (``privacy.pages``) and by Meta's callbacks (``privacy.tasks``):

- ``account_disconnect``: the account stops acting at once (INACTIVE, token destroyed, planned actions denied,
  flows stopped, scheduled posts back to draft); with ``delete_history`` everything InstaForge holds about it is
  then deleted, the account row last.
- ``workspace_erase``: every account of the workspace disconnected with its history, then the workspace.
- ``follower_erase``: one Instagram user who wrote to or commented on connected accounts, in every workspace.

Why the deletions look the way they do:

- **Small batches** (``BATCH_SIZE`` rows a statement, each batch its own short transaction, children before
  parents): a large account's history is millions of rows; one ``DELETE`` would hold its locks (and the
  dispatcher's claim, which locks the account's actions) for minutes.
- **Idempotent and restartable**: every step selects what is still there by the account's (or the person's)
  ids, so a call that died half-way is finished by calling it again (the deletion task retries), and a call on
  data already gone changes nothing. The account row goes last: until it goes, its id and Instagram id find
  everything that still names it.
- **Explicit where the foreign keys do not reach**: an inbound event only loses its account when the account
  goes (``SET_NULL``), so events are deleted by account and by ``entry_id``; a CRM delivery names the account or
  the person only in its JSON body; an alert names its account in ``subject``; a post's files live in the
  storage, not the database (deleted after the rows' commit: a rolled-back batch keeps its files).
- **Never an account's own data by mistake**: ``follower_erase`` leaves alone the rows of an account whose
  Instagram id is the one erased (its own comments, its own events); the account is erased with
  ``account_disconnect``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone

from accounts.models import (
    AccountState,
    AccountTransition,
    InstagramAccount,
    Invitation,
    Membership,
    Workspace,
)
from accounts.selectors import workspace_manager_emails
from accounts.services import account_transition
from actions.models import Action, ActionDecision, ActionState, Verdict
from alerts.models import Alert, AlertSettings
from engagement.models import Comment, CommentRule, CommentRuleHit, CommentSettings
from instagram.models import InboundEvent
from integrations.models import WebhookDelivery, WebhookEndpoint
from messaging.models import (
    ACTIVE_RUN_STATUSES,
    Conversation,
    ConversationEvent,
    DmRule,
    Flow,
    FlowRun,
    FlowRunStatus,
    FlowVersion,
    IceBreakerSet,
    Message,
    MessagingSettings,
    Note,
)
from publishing.models import PostEvent, PostMedia, PostState, ScheduledPost
from publishing.services import PostNotEditable, post_event_record, post_unschedule
from safety.models import (
    AccountUsage,
    RiskScoreSample,
    SafetyChange,
    SafetyCounter,
    SafetyEvent,
    SafetyOverride,
)
from warmup.models import WarmupDay, WarmupEvent, WarmupPlan

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# Rows per statement, each batch in its own transaction: short locks, bounded memory.
BATCH_SIZE = 500

# The ledger's reason on an action denied because its account was disconnected.
DISCONNECTED_REASON = "the account was disconnected from InstaForge; nothing is sent for it"
# The ledger's reason on an action denied because the person it was addressed to asked for their data's deletion.
FOLLOWER_ERASED_REASON = "the person asked Instagram to delete their data; nothing more is sent to them"

# States in which an action is still on its way: a dispatcher holds it, or its outcome is being reconciled.
IN_FLIGHT_STATES = (ActionState.CLAIMED, ActionState.SENDING, ActionState.UNKNOWN)
FINISHED_STATES = (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED)

# The report's name for the rows of each model (by ``app_label.ModelName``); others use their verbose name.
KIND_NAMES = {
    "accounts.InstagramAccount": "accounts",
    "accounts.AccountTransition": "account_transitions",
    "accounts.Workspace": "workspaces",
    "accounts.Membership": "memberships",
    "accounts.Invitation": "invitations",
    "actions.Action": "actions",
    "actions.ActionDecision": "action_decisions",
    "alerts.Alert": "alerts",
    "alerts.AlertNotification": "alert_notifications",
    "alerts.AlertSettings": "alert_settings",
    "engagement.Comment": "comments",
    "engagement.CommentRule": "comment_rules",
    "engagement.CommentRuleHit": "comment_rule_hits",
    "engagement.CommentSettings": "comment_settings",
    "instagram.InboundEvent": "inbound_events",
    "integrations.WebhookDelivery": "crm_deliveries",
    "integrations.WebhookEndpoint": "crm_endpoints",
    "messaging.AutomatedReply": "automated_replies",
    "messaging.Conversation": "conversations",
    "messaging.ConversationEvent": "conversation_events",
    "messaging.DmRule": "dm_rules",
    "messaging.Flow": "flows",
    "messaging.FlowRun": "flow_runs",
    "messaging.FlowVersion": "flow_versions",
    "messaging.IceBreakerSet": "ice_breakers",
    "messaging.Message": "messages",
    "messaging.MessageAnalysis": "message_analyses",
    "messaging.MessagingSettings": "messaging_settings",
    "messaging.Note": "notes",
    "publishing.PostEvent": "post_events",
    "publishing.PostMedia": "post_media",
    "publishing.ScheduledPost": "posts",
    "safety.AccountUsage": "account_usage",
    "safety.RiskScoreSample": "risk_samples",
    "safety.SafetyChange": "safety_changes",
    "safety.SafetyCounter": "safety_counters",
    "safety.SafetyEvent": "safety_events",
    "safety.SafetyOverride": "safety_overrides",
    "warmup.WarmupDay": "warmup_days",
    "warmup.WarmupEvent": "warmup_events",
    "warmup.WarmupPlan": "warmup_plans",
}


@dataclass
class ErasureReport:
    """What an erasure deleted or cleared, by kind (``{"messages": 12, "comments": 3, ...}``).

    Besides the deleted rows (named as in ``KIND_NAMES``) a disconnection counts ``accounts_disconnected``,
    ``tokens_destroyed``, ``actions_denied``, ``flow_runs_stopped``, ``posts_unscheduled``, ``media_files``; a
    follower's erasure counts ``actions_in_flight``: actions addressed to them that a dispatcher still holds,
    left to finish and deleted by the next call. A kind at zero is left out, so an empty report means that
    nothing was there.
    """

    counts: dict[str, int] = field(default_factory=dict)

    def merged(self, other: ErasureReport) -> ErasureReport:
        """A new report with both reports' counts added up."""
        counts = dict(self.counts)
        for kind, number in other.counts.items():
            counts[kind] = counts.get(kind, 0) + number
        return ErasureReport(counts={kind: number for kind, number in counts.items() if number})

    def add(self, kind: str, number: int) -> None:
        if number:
            self.counts[kind] = self.counts.get(kind, 0) + number


def _kind(label: str) -> str:
    if label in KIND_NAMES:
        return KIND_NAMES[label]
    app_label, _, model_name = label.partition(".")
    return f"{app_label}_{model_name.lower()}"


# --- batches ------------------------------------------------------------------------------------


def _delete_batches(
    queryset: models.QuerySet[Any], report: ErasureReport, *, before: Callable[[list[Any]], None] | None = None
) -> None:
    """Delete the rows of ``queryset`` ``BATCH_SIZE`` at a time, each batch in its own transaction.

    Deleted through the ORM (``QuerySet.delete``), so cascades and ``SET_NULL`` behave as the models say and
    every cascaded row is counted. ``before(ids)`` runs inside each batch's transaction, before its delete
    (the files of post media are collected there).
    """
    model = queryset.model
    manager = model._base_manager
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:BATCH_SIZE])
        if not ids:
            return
        with transaction.atomic():
            if before is not None:
                before(ids)
            _, per_model = manager.filter(pk__in=ids).delete()
        for label, number in per_model.items():
            report.add(_kind(label), number)


def _media_files_delete_on_commit(report: ErasureReport) -> Callable[[list[Any]], None]:
    """``before`` for PostMedia batches: their files are deleted from the storage once the rows' delete commits."""

    def collect(ids: list[Any]) -> None:
        names = [name for name in PostMedia.all_workspaces.filter(pk__in=ids).values_list("file", flat=True) if name]
        report.add("media_files", len(names))
        transaction.on_commit(lambda: _files_delete(names))

    return collect


def _files_delete(names: Iterable[str]) -> None:
    """Delete stored files; one that is already gone (a call re-run after a crash) is no error."""
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a storage outage must not undo the rows' deletion; the file is logged for an operator
            logger.exception("The stored media file %s could not be deleted", name)


def _ids_with_body(
    queryset: models.QuerySet[Any], *, needle: str, names: Callable[[dict[str, Any]], bool]
) -> list[int]:
    """Ids of CRM deliveries in ``queryset`` whose JSON body ``names`` (parsed in Python, by pk, in batches).

    JSON lookups differ between SQLite and PostgreSQL, so the database only narrows the rows down to bodies
    that contain the id as text; the parsed body decides.
    """
    found: list[int] = []
    last = 0
    while True:
        rows = list(
            queryset.filter(pk__gt=last, body__contains=needle).order_by("pk").values_list("pk", "body")[:BATCH_SIZE]
        )
        if not rows:
            return found
        for pk, body in rows:
            try:
                document = json.loads(body)
            except ValueError:
                continue
            if isinstance(document, dict) and names(document):
                found.append(pk)
        last = rows[-1][0]


def _path(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


# --- disconnect -----------------------------------------------------------------------------------


def account_disconnect(
    *,
    account_id: int,
    actor: User | None,
    cause: str,
    reason: str = "",
    delete_history: bool = False,
    notify_owners: bool = False,
) -> ErasureReport:
    """Disconnect an Instagram account: from now on nothing is sent for it, and InstaForge holds no token.

    At once, in one transaction with the account locked: the account goes to INACTIVE through the lifecycle
    (``account_transition``, which records ``cause`` and ``reason``, redacted, with ``actor``); its token, expiry,
    refresh time and permissions are cleared; its planned actions are denied on the ledger (a decision saying
    so); its running flows are stopped. Then its scheduled posts go back to draft (a post being published when
    no publish call was recorded yet fails with the reason). Actions a dispatcher already holds (``sending``)
    are left to finish: the dispatcher records their outcome (with the token gone, those not yet sent are
    planned again and denied by the next call).

    Revoking: Meta documents no call that revokes a token or a permission of the Instagram API with Instagram
    Login (``DELETE /{user-id}/permissions`` is Facebook Login's). The token is destroyed here; to withdraw the
    app's access on Instagram's side the person removes the app in Instagram's settings ("Apps and websites"),
    which Meta reports to the deauthorize callback.

    With ``delete_history`` everything InstaForge holds about the account is then deleted in batches
    (conversations, messages, comments, rules, flows, the ledger, posts and their media files, warm-up and
    safety records, alerts, inbound events, CRM deliveries about it) and, last, the account row.
    ``notify_owners`` emails the workspace's owners and admins when the account was disconnected by this call.

    Idempotent: a second call on a disconnected account changes nothing (its report is empty); on a deleted
    account it returns an empty report. A call that died half-way is finished by calling it again.
    """
    report = ErasureReport()
    account = InstagramAccount.all_workspaces.filter(pk=account_id).first()
    if account is None:
        return report
    with transaction.atomic():
        # The lock makes the disconnection one step for the dispatcher too: on PostgreSQL its claim locks the
        # account with its due actions (SKIP LOCKED), so no action of it is gated between these writes.
        account = InstagramAccount.all_workspaces.select_for_update().filter(pk=account_id).first()
        if account is None:
            return report
        newly_disconnected = account.state != AccountState.INACTIVE
        if newly_disconnected:
            account = account_transition(
                account_id=account.pk, to_state=AccountState.INACTIVE, cause=cause, actor=actor, reason=reason
            )
            report.add("accounts_disconnected", 1)
        if account.access_token_encrypted or account.token_expires_at or account.token_permissions:
            InstagramAccount.all_workspaces.filter(pk=account.pk).update(
                access_token_encrypted="", token_expires_at=None, token_refreshed_at=None, token_permissions=""
            )
            report.add("tokens_destroyed", 1)
        report.add("actions_denied", _planned_actions_deny(Action.all_workspaces.filter(account_id=account.pk)))
        report.add(
            "flow_runs_stopped",
            FlowRun.all_workspaces.filter(conversation__account_id=account.pk, status__in=ACTIVE_RUN_STATUSES).update(
                status=FlowRunStatus.STOPPED, resume_at=None, updated_at=timezone.now()
            ),
        )
    report.add("posts_unscheduled", _posts_stop(account))
    if notify_owners and newly_disconnected:
        _disconnect_notify(account, cause=cause, history_deleted=delete_history)
    if delete_history:
        report = report.merged(_account_history_delete(account))
    logger.info(
        "Instagram account %s disconnected (%s)%s",
        account.pk,
        cause,
        ", its history deleted" if delete_history else "",
        extra={"account_id": account.pk, "workspace_id": account.workspace_id, "counts": report.counts},
    )
    return report


def _planned_actions_deny(actions: models.QuerySet[Action], *, reason: str = DISCONNECTED_REASON) -> int:
    """Deny the planned actions of ``actions`` (a conditional UPDATE: one a dispatcher claimed is not planned).

    Each is given a ``deny`` decision on the ledger saying why, so its page explains it. On PostgreSQL the
    rows are locked first (SKIP LOCKED: one a dispatcher is claiming right now is its own).
    """
    denied = 0
    while True:
        with transaction.atomic():
            ids = list(
                actions.filter(state=ActionState.PLANNED)
                .select_for_update(skip_locked=True)
                .order_by()
                .values_list("pk", flat=True)[:BATCH_SIZE]
            )
            if not ids:
                return denied
            now = timezone.now()
            changed = Action.all_workspaces.filter(pk__in=ids, state=ActionState.PLANNED).update(
                state=ActionState.DENIED, last_reason=reason, finished_at=now, lease_until=None
            )
            ActionDecision.all_workspaces.bulk_create(
                ActionDecision(workspace_id=workspace_id, action_id=pk, at=now, verdict=Verdict.DENY, reason=reason)
                for pk, workspace_id in Action.all_workspaces.filter(
                    pk__in=ids, state=ActionState.DENIED, last_reason=reason
                ).values_list("pk", "workspace_id")
            )
            denied += changed


def _posts_stop(account: InstagramAccount) -> int:
    """Scheduled posts back to draft (``post_unschedule``: their steps cancelled); count what changed.

    A post being published with no publish call recorded yet (its planned steps were just denied) fails with
    the reason, so it does not wait for steps that will never run; one whose publish call is recorded is left
    to the dispatcher, which knows whether Instagram published it.
    """
    changed = 0
    for post in ScheduledPost.all_workspaces.filter(account_id=account.pk, state=PostState.SCHEDULED):
        try:
            post_unschedule(post=post)
        except PostNotEditable:
            continue  # it started publishing meanwhile
        changed += 1
    stuck = ScheduledPost.all_workspaces.filter(
        account_id=account.pk, state=PostState.PUBLISHING, publish_intent_at__isnull=True
    )
    for post in stuck:
        with transaction.atomic():
            if (
                ScheduledPost.all_workspaces.filter(
                    pk=post.pk, state=PostState.PUBLISHING, publish_intent_at__isnull=True
                ).update(state=PostState.FAILED, state_reason=DISCONNECTED_REASON, updated_at=timezone.now())
                == 1
            ):
                post_event_record(post=post, kind=PostEvent.Kind.FAILED, message=DISCONNECTED_REASON)
                changed += 1
    return changed


def _disconnect_notify(account: InstagramAccount, *, cause: str, history_deleted: bool) -> None:
    """Email the workspace's owners and admins that the account was disconnected, once the change commits.

    Says what happened (and why), what it means (nothing is sent from the account; what InstaForge keeps) and
    how to connect it again.
    """
    recipients = workspace_manager_emails(workspace_id=account.workspace_id)
    if not recipients:
        return
    name = str(account)
    kept = (
        "Its history (conversations, comments, the ledger) was deleted from InstaForge."
        if history_deleted
        else "Its history (conversations, comments, the ledger) is kept; its rules and flows stay as they were."
    )
    connect = settings.SITE_URL + reverse("instagram_connect")
    message = (
        f"{name} was disconnected from InstaForge: {cause}.\n\n"
        f"What it means: nothing is sent from {name} any more (no replies, DMs or posts); its planned replies "
        f"were cancelled and its scheduled posts went back to draft. InstaForge no longer holds its Instagram "
        f"access token. {kept}\n\n"
        f"To connect it again, log in to InstaForge and connect the account with Instagram: {connect}\n"
    )
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{name} was disconnected from InstaForge",
            message=message,
            from_email=None,
            recipient_list=recipients,
            fail_silently=True,
        )
    )


def _account_history_delete(account: InstagramAccount) -> ErasureReport:
    """Delete everything InstaForge holds about ``account``, children before parents, then the account row."""
    report = ErasureReport()
    pk, ig_user_id = account.pk, account.ig_user_id
    on = {"workspace_id": account.workspace_id}  # every query stays inside the account's workspace

    # Posts and their files.
    _delete_batches(
        PostMedia.all_workspaces.filter(post__account_id=pk, **on), report, before=_media_files_delete_on_commit(report)
    )
    _delete_batches(PostEvent.all_workspaces.filter(post__account_id=pk, **on), report)
    _delete_batches(ScheduledPost.all_workspaces.filter(account_id=pk, **on), report)

    # The inbox: what hangs off conversations, then messages (their analyses and automation records cascade).
    _delete_batches(ConversationEvent.all_workspaces.filter(conversation__account_id=pk, **on), report)
    _delete_batches(Note.all_workspaces.filter(conversation__account_id=pk, **on), report)
    # Flow runs before their versions (FlowRun.version is PROTECT): those in its conversations and of its flows.
    _delete_batches(FlowRun.all_workspaces.filter(conversation__account_id=pk, **on), report)
    _delete_batches(FlowRun.all_workspaces.filter(version__flow__account_id=pk, **on), report)
    _delete_batches(Message.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(Message.all_workspaces.filter(conversation__account_id=pk, **on), report)
    _delete_batches(Conversation.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(FlowVersion.all_workspaces.filter(flow__account_id=pk, **on), report)
    _delete_batches(Flow.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(DmRule.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(IceBreakerSet.all_workspaces.filter(account_id=pk, **on), report)

    # Comments and their rules.
    _delete_batches(CommentRuleHit.all_workspaces.filter(comment__account_id=pk, **on), report)
    _delete_batches(CommentRuleHit.all_workspaces.filter(rule__account_id=pk, **on), report)
    _delete_batches(Comment.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(CommentRule.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(CommentSettings.all_workspaces.filter(account_id=pk, **on), report)

    # The ledger: decisions, then actions.
    _delete_batches(ActionDecision.all_workspaces.filter(action__account_id=pk, **on), report)
    _delete_batches(Action.all_workspaces.filter(account_id=pk, **on), report)

    # Safety and warm-up records.
    _delete_batches(SafetyEvent.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(RiskScoreSample.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(SafetyChange.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(SafetyOverride.all_workspaces.filter(account_id=pk, **on), report)
    _delete_batches(AccountUsage.objects.filter(account_id=pk), report)
    _delete_batches(WarmupDay.all_workspaces.filter(plan__account_id=pk, **on), report)
    _delete_batches(WarmupEvent.all_workspaces.filter(plan__account_id=pk, **on), report)
    _delete_batches(WarmupPlan.all_workspaces.filter(account_id=pk, **on), report)

    # What names it without a foreign key that cascades: alerts by subject, inbound events (SET_NULL on the
    # account: by the account and by the entry's Instagram id), CRM deliveries by their body.
    _delete_batches(Alert.all_workspaces.filter(subject=f"account:{pk}"), report)
    _delete_batches(InboundEvent.objects.filter(account_id=pk), report)
    if ig_user_id:
        _delete_batches(InboundEvent.objects.filter(entry_id=ig_user_id), report)
        deliveries = WebhookDelivery.all_workspaces.filter(**on)
        _delete_batches(
            WebhookDelivery.all_workspaces.filter(
                pk__in=_ids_with_body(
                    deliveries,
                    needle=f'"{ig_user_id}"',
                    names=lambda document: _path(document, "data", "account", "id") == ig_user_id,
                )
            ),
            report,
        )
    _delete_batches(AccountTransition.all_workspaces.filter(account_id=pk, **on), report)

    # Last, the account itself (its remaining rows, if any arrived meanwhile, cascade with it).
    with transaction.atomic():
        _, per_model = InstagramAccount.all_workspaces.filter(pk=pk).delete()
    for label, number in per_model.items():
        report.add(_kind(label), number)
    cache.delete(f"engagement:media:{pk}")  # the account's cached media list (engagement.services)
    return report


# --- workspace --------------------------------------------------------------------------------------


def workspace_erase(*, workspace_id: int, actor: User | None) -> ErasureReport:
    """Delete a workspace and everything in it: each account disconnected with its history, then the rest.

    The accounts go one by one through ``account_disconnect(delete_history=True)`` (planned actions denied
    first, media files deleted, inbound events and CRM deliveries about them); then the workspace's own rows
    that can be large (CRM deliveries, alerts, inbound events not routed to an account) in batches; then the
    workspace row, whose cascade removes its memberships, invitations, rules, endpoints and settings. Users stay:
    they may belong to other workspaces. Idempotent; a workspace already gone gives an empty report. Audit
    entries are the caller's (``privacy.pages`` records them around this call).
    """
    report = ErasureReport()
    if not Workspace.objects.filter(pk=workspace_id).exists():
        return report
    for account_id in list(
        InstagramAccount.all_workspaces.filter(workspace_id=workspace_id).values_list("pk", flat=True)
    ):
        report = report.merged(
            account_disconnect(
                account_id=account_id,
                actor=actor,
                cause="the workspace was deleted",
                delete_history=True,
            )
        )
    on = {"workspace_id": workspace_id}
    _delete_batches(WebhookDelivery.all_workspaces.filter(**on), report)
    _delete_batches(WebhookEndpoint.all_workspaces.filter(**on), report)
    _delete_batches(Alert.all_workspaces.filter(**on), report)
    _delete_batches(AlertSettings.all_workspaces.filter(**on), report)
    _delete_batches(InboundEvent.objects.filter(**on), report)
    # What is left of the workspace's tenant rows not tied to an account (settings, workspace-wide safety).
    _delete_batches(SafetyChange.all_workspaces.filter(**on), report)
    _delete_batches(SafetyOverride.all_workspaces.filter(**on), report)
    _delete_batches(MessagingSettings.all_workspaces.filter(**on), report)
    _delete_batches(Invitation.all_workspaces.filter(**on), report)
    _delete_batches(Membership.all_workspaces.filter(**on), report)
    # The shared counters keyed by the workspace's id (safety.counters: "workspace:<id>"), no foreign key.
    _delete_batches(SafetyCounter.objects.filter(scope=f"workspace:{workspace_id}"), report)
    with transaction.atomic():
        _, per_model = Workspace.objects.filter(pk=workspace_id).delete()
    for label, number in per_model.items():
        report.add(_kind(label), number)
    logger.info("Workspace %s erased", workspace_id, extra={"workspace_id": workspace_id, "counts": report.counts})
    return report


# --- follower ---------------------------------------------------------------------------------------


def follower_erase(*, ig_user_id: str) -> ErasureReport:
    """Delete everything held about one Instagram user as a follower, across every workspace.

    Their conversations (messages, analyses, automation records, notes, events, flow runs), their comments
    (with their rule hits, and the account's own replies to them), the actions addressed to them, the inbound
    events whose payload names them as the sender, recipient or commenter (where Meta's documented payloads
    put them: ``sender.id``, ``recipient.id``, ``value.from.id``), the CRM deliveries naming them, and their
    traces in the safety engine's evidence (an action's payload quoted in a safety event is blanked).

    The actions addressed to them: planned ones are denied (a dispatcher never sends them), then every
    finished one is deleted; those a dispatcher holds (``claimed``, ``sending``, ``unknown``) are left to
    finish, counted as ``actions_in_flight`` in the report, and deleted by the next call (the deletion task
    calls again until none is left).

    An account whose Instagram id is ``ig_user_id`` is not touched, nor are its own rows (its own comments on
    its media, its own webhook events): the account is erased by ``account_disconnect``. Idempotent.
    """
    report = ErasureReport()
    if not ig_user_id:
        return report
    own = list(InstagramAccount.all_workspaces.filter(ig_user_id=ig_user_id).values_list("pk", flat=True))

    conversations = Conversation.all_workspaces.filter(participant_igsid=ig_user_id).exclude(account_id__in=own)
    comments = Comment.all_workspaces.filter(from_id=ig_user_id).exclude(account_id__in=own)

    # The ledger first, while the conversations and comments that planned its actions still find them.
    actions = _follower_actions(ig_user_id, conversations=conversations, comments=comments, own=own)
    report.add("actions_denied", _planned_actions_deny(actions, reason=FOLLOWER_ERASED_REASON))
    finished = actions.filter(state__in=FINISHED_STATES)
    _safety_evidence_blank(finished, report)
    _delete_batches(ActionDecision.all_workspaces.filter(action__in=finished), report)
    _delete_batches(finished, report)
    report.add("actions_in_flight", actions.filter(state__in=IN_FLIGHT_STATES).count())

    # Conversations, children first.
    _delete_batches(ConversationEvent.all_workspaces.filter(conversation__in=conversations), report)
    _delete_batches(Note.all_workspaces.filter(conversation__in=conversations), report)
    _delete_batches(FlowRun.all_workspaces.filter(conversation__in=conversations), report)
    _delete_batches(Message.all_workspaces.filter(conversation__in=conversations), report)
    _delete_batches(conversations, report)

    # Comments: the account's own replies to theirs, the rule hits that name them, their comments.
    for account_id, account_ig_id in (
        InstagramAccount.all_workspaces.filter(pk__in=comments.values("account_id"))
        .exclude(ig_user_id="")
        .values_list("pk", "ig_user_id")
    ):
        _delete_batches(
            Comment.all_workspaces.filter(
                account_id=account_id,
                from_id=account_ig_id,
                parent_id__in=comments.filter(account_id=account_id).values("ig_comment_id"),
            ),
            report,
        )
    _delete_batches(CommentRuleHit.all_workspaces.filter(comment__in=comments), report)
    _delete_batches(
        CommentRuleHit.all_workspaces.filter(from_id=ig_user_id).exclude(comment__account_id__in=own), report
    )
    _delete_batches(comments, report)

    # Inbound events and CRM deliveries that name them.
    _delete_batches(InboundEvent.objects.filter(pk__in=_follower_event_ids(ig_user_id, own=own)), report)
    _delete_batches(
        WebhookDelivery.all_workspaces.filter(
            pk__in=_ids_with_body(
                WebhookDelivery.all_workspaces.all(),
                needle=f'"{ig_user_id}"',
                names=lambda document: (
                    ig_user_id
                    in (
                        _path(document, "data", "commenter", "id"),
                        _path(document, "data", "conversation", "participant", "id"),
                    )
                ),
            )
        ),
        report,
    )
    logger.info("Follower data erased", extra={"counts": report.counts})
    return report


def _follower_actions(
    ig_user_id: str,
    *,
    conversations: models.QuerySet[Conversation],
    comments: models.QuerySet[Comment],
    own: list[int],
) -> models.QuerySet[Action]:
    """The actions addressed to the person, or planned from their conversations and comments, and their typing."""
    about = (
        models.Q(counterpart_id=ig_user_id)
        | models.Q(source_kind="comment", source_id__in=[str(pk) for pk in comments.values_list("pk", flat=True)])
        | models.Q(
            source_kind="conversation", source_id__in=[str(pk) for pk in conversations.values_list("pk", flat=True)]
        )
    )
    direct = Action.all_workspaces.filter(about).exclude(account_id__in=own)
    typing = models.Q(source_kind="typing", source_id__in=[str(pk) for pk in direct.values_list("pk", flat=True)])
    return Action.all_workspaces.filter(about | typing).exclude(account_id__in=own)


def _safety_evidence_blank(actions: models.QuerySet[Action], report: ErasureReport) -> None:
    """Blank the action payloads (the person's id, the text sent to them) quoted in safety events' evidence.

    The events themselves stay: they are the account's safety history (its risk score, a suspension's review).
    """
    ids = list(actions.values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        with transaction.atomic():
            for event in SafetyEvent.all_workspaces.select_for_update().filter(action_id_ref__in=chunk):
                data = dict(event.data or {})
                quoted = data.get("action")
                if isinstance(quoted, dict) and quoted.get("payload"):
                    data["action"] = {**quoted, "payload": {"erased": True}}
                    event.data = data
                    event.save(update_fields=["data"])
                    report.add("safety_evidence_blanked", 1)


def _follower_event_ids(ig_user_id: str, *, own: list[int]) -> list[int]:
    """Inbound events whose payload names the person where Meta's documented payloads put people.

    A messaging item (message, reaction, postback, read, referral…) has ``sender.id`` and ``recipient.id``; a
    ``comments`` / ``live_comments`` change has ``value.from.id`` (``instagram.parsing``). The database narrows
    the rows down to payloads that contain the id as text (JSON lookups differ between SQLite and PostgreSQL);
    the parsed payload decides. An account's own events (its entry) are left to ``account_disconnect``.
    """
    candidates = (
        InboundEvent.objects.annotate(payload_text=Cast("payload", models.TextField()))
        .filter(payload_text__contains=ig_user_id)
        .exclude(entry_id=ig_user_id)
        .exclude(account_id__in=own)
    )
    found: list[int] = []
    last = 0
    while True:
        rows = list(candidates.filter(pk__gt=last).order_by("pk").values_list("pk", "payload")[:BATCH_SIZE])
        if not rows:
            return found
        for pk, payload in rows:
            named = (
                _path(payload, "sender", "id"),
                _path(payload, "recipient", "id"),
                _path(payload, "value", "from", "id"),
            )
            if ig_user_id in named:
                found.append(pk)
        last = rows[-1][0]
