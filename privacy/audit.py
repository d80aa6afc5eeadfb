"""The audit trail (django-auditlog): which models it follows, and the entries written for disconnect and delete.

django-auditlog writes a ``LogEntry`` on every save and delete of a registered model (and reads the row once
before an update, to diff it). The models it follows here change rarely: a workspace when it is created or
renamed, an account on a state transition (a few a day at most: the warm-up's days, a pause) and a token
refresh (every ~50 days), a membership or an invitation when a person joins or is removed, and the rules,
flows, CRM endpoints and settings when a person edits them (the workspace activity log, privacy/activity.py).
Neither the dispatcher nor the webhook ingest saves any of them per event (they write actions, comments and
messages), so the trail costs nothing on the hot paths. Secrets never enter it: every vault field
(``*_encrypted``) and the invitation's token (the link that lets anyone join) are excluded.

An entry has no foreign key to the row it is about (a content type and the row's id, as text and number),
so it outlives the account or workspace it describes; its actor is a nullable foreign key (``SET_NULL``)
and ``actor_email`` keeps the address. Disconnecting an account and erasing a workspace each write one more
entry of their own, saying what the owner chose and what was deleted (``additional_data``).
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.db import models

from accounts.models import InstagramAccount, Invitation, Membership, User, Workspace
from accounts.vault import ENCRYPTED_FIELD_SUFFIX
from alerts.models import AlertSettings
from engagement.models import CommentRule, CommentSettings
from integrations.models import WebhookEndpoint
from messaging.models import DmRule, Flow, IceBreakerSet, MessagingSettings
from privacy.erasure import ErasureReport, account_disconnect, workspace_erase
from safety.models import SafetyOverride

# The models the trail follows, with the fields it never records besides the vault's ``*_encrypted`` ones
# (a CRM endpoint's signing secret, the AI key, the Slack webhook URL, Instagram tokens).
# The workspace's settings, rules and flows (the workspace activity page, privacy.activity) are saved when a
# person edits them, never per inbound event or per action: the dispatcher and the webhook ingest only read
# them, the one write on that path being ``messaging_settings_get``'s creation of a workspace's settings row
# the first time (one entry, ever). A flow's versions are not followed: saving steps sets the flow's
# ``current_version``, which its entry records. Posts are content, published and retried by the pipeline
# (a save per attempt): not followed; their own page keeps their history.
AUDITED_MODELS: dict[type[models.Model], tuple[str, ...]] = {
    Workspace: (),
    InstagramAccount: (),
    Membership: (),
    Invitation: ("token",),  # the invitation link: whoever holds it joins the workspace
    CommentRule: (),
    CommentSettings: (),
    DmRule: (),
    Flow: (),
    MessagingSettings: (),
    IceBreakerSet: (),
    WebhookEndpoint: (),  # its secret_encrypted is a vault field
    SafetyOverride: (),
    AlertSettings: (),
}


def audit_exclusions(model: type[models.Model]) -> list[str]:
    """The fields of ``model`` the trail leaves out: its vault fields, the secrets named above, reverse relations.

    Reverse relations (an account's ``usage``, ``transitions``, …) are not the row's data, and django-auditlog
    would read each one on every creation and deletion: an extra query per relation, and for a reverse
    one-to-one a "no such row" cached on the instance, which the safety gate then takes for the truth
    (``safety.selectors.account_usage`` reads the cached relation first).
    """
    vault_fields = [field.name for field in model._meta.concrete_fields if field.name.endswith(ENCRYPTED_FIELD_SUFFIX)]
    reverse_relations = [field.name for field in model._meta.get_fields() if field.auto_created and not field.concrete]
    return sorted({*vault_fields, *AUDITED_MODELS.get(model, ()), *reverse_relations})


def audit_models_register() -> None:
    """Register the followed models with django-auditlog (from ``PrivacyConfig.ready``; safe to call twice).

    Each entry is tagged with the workspace of its row (``additional_data["workspace_id"]``, written when the
    entry is: django-auditlog asks the instance's ``get_additional_data``), because an entry has no workspace
    column and the workspace activity page must show a workspace its own entries only, a deleted row's too.
    """
    for model in AUDITED_MODELS:
        if not hasattr(model, "get_additional_data"):
            model.get_additional_data = audit_workspace_tag  # type: ignore[attr-defined]
        if not auditlog.contains(model):
            auditlog.register(model, exclude_fields=audit_exclusions(model))


def audit_workspace_tag(instance: models.Model) -> dict[str, Any]:
    """The extra data of a followed row's entry: the id of the workspace it belongs to (the workspace's own for
    a workspace). Read from the row being saved or deleted, never from the request."""
    workspace_id = instance.pk if isinstance(instance, Workspace) else getattr(instance, "workspace_id", None)
    return {"workspace_id": workspace_id}


# The erasure report's kinds that are not simply rows of a plural noun (privacy.erasure.ErasureReport), as
# (one, many); the others read as their name ("inbound_events": "1 inbound event", "12 inbound events").
KIND_WORDS: dict[str, tuple[str, str]] = {
    "accounts_disconnected": ("account disconnected", "accounts disconnected"),
    "tokens_destroyed": ("access token destroyed", "access tokens destroyed"),
    "actions_denied": ("planned action cancelled", "planned actions cancelled"),
    "flow_runs_stopped": ("running flow stopped", "running flows stopped"),
    "posts_unscheduled": ("scheduled post back to draft", "scheduled posts back to draft"),
    "actions_in_flight": ("action still being sent", "actions still being sent"),
    "crm_deliveries": ("CRM delivery", "CRM deliveries"),
    "crm_endpoints": ("CRM endpoint", "CRM endpoints"),
    "message_analyses": ("message analysis", "message analyses"),
    "account_usage": ("account usage record", "account usage records"),
    "comment_settings": ("comment settings", "comment settings"),
    "messaging_settings": ("messaging settings", "messaging settings"),
    "alert_settings": ("alert settings", "alert settings"),
    "post_media": ("post media file record", "post media file records"),
    "audit_entries_anonymized": ("audit entry anonymized", "audit entries anonymized"),
}


def counts_in_words(counts: dict[str, int]) -> str:
    """``{"messages": 12, "comments": 1}`` as "12 messages, 1 comment" (kinds at zero left out)."""
    parts = []
    for kind, number in counts.items():
        if not number:
            continue
        one, many = KIND_WORDS.get(kind) or _plural_name(kind)
        parts.append(f"{number} {one if number == 1 else many}")
    return ", ".join(parts)


def _plural_name(kind: str) -> tuple[str, str]:
    # A kind is named after its rows, a plural noun last ("inbound_events", "flow_runs", "ice_breakers").
    many = kind.replace("_", " ")
    head, _, last = many.rpartition(" ")
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return (f"{head} {last}" if head else last), many


def _entry_write(
    *,
    model: type[models.Model],
    object_id: int,
    object_repr: str,
    action: int,
    actor: User | None,
    text: str,
    data: dict[str, Any],
) -> LogEntry:
    """One explicit entry, written whether or not the row still exists (ids and names given, not read)."""
    entry: LogEntry = LogEntry.objects.log_create(
        model(pk=object_id),
        force_log=True,
        action=action,
        object_pk=str(object_id),
        object_id=object_id,
        object_repr=object_repr,
        serialized_data=None,
        changes_text=text,
        additional_data=data,
        actor=actor,
        actor_email=actor.email if actor is not None else None,
    )
    return entry


def account_disconnect_audited(*, account: InstagramAccount, actor: User | None, delete_history: bool) -> ErasureReport:
    """``privacy.erasure.account_disconnect`` by ``actor``, then an audit entry with the choice and the counts.

    The entry names the account (its id, username and Instagram id) and the workspace, so the trail still
    says what was disconnected once the account's row and history are gone. When the erasure fails part-way
    (it works in batches, each committed), an entry says so before the error goes on: what was already
    deleted stays deleted, and the trail must not pretend nothing happened.
    """
    who = actor.email if actor is not None else "an operator"
    history = "deleted" if delete_history else "kept"
    data: dict[str, Any] = {
        "event": "account disconnected",
        "history": history,
        "username": account.username,
        "ig_user_id": account.ig_user_id,
        "workspace_id": account.workspace_id,
    }
    action = LogEntry.Action.DELETE if delete_history else LogEntry.Action.UPDATE
    try:
        report = account_disconnect(
            account_id=account.pk,
            actor=actor,
            cause=f"disconnected by {who}"[:100],
            delete_history=delete_history,
        )
    except Exception as exc:
        _entry_write(
            model=InstagramAccount,
            object_id=account.pk,
            object_repr=str(account),
            action=action,
            actor=actor,
            text=f"Disconnecting (history {history}) failed part-way: {type(exc).__name__}.",
            data={**data, "failed": type(exc).__name__},
        )
        raise
    deleted = counts_in_words(report.counts) or "nothing"
    _entry_write(
        model=InstagramAccount,
        object_id=account.pk,
        object_repr=str(account),
        action=action,
        actor=actor,
        text=f"Disconnected by {who}, history {history}; deleted or cleared: {deleted}.",
        data={**data, "counts": report.counts},
    )
    return report


def workspace_erase_audited(*, workspace: Workspace, actor: User | None) -> ErasureReport:
    """``privacy.erasure.workspace_erase`` by ``actor``, then an audit entry with the counts.

    The entry outlives the workspace (no foreign key to it): operators can still answer "who deleted the
    workspace called X, and when". A failure part-way writes an entry too, then the error goes on.
    """
    who = actor.email if actor is not None else "an operator"
    data: dict[str, Any] = {"event": "workspace erased", "workspace": workspace.name}
    try:
        report = workspace_erase(workspace_id=workspace.pk, actor=actor)
    except Exception as exc:
        _entry_write(
            model=Workspace,
            object_id=workspace.pk,
            object_repr=workspace.name,
            action=LogEntry.Action.DELETE,
            actor=actor,
            text=f"Deleting the workspace failed part-way: {type(exc).__name__}.",
            data={**data, "failed": type(exc).__name__},
        )
        raise
    deleted = counts_in_words(report.counts) or "nothing"
    _entry_write(
        model=Workspace,
        object_id=workspace.pk,
        object_repr=workspace.name,
        action=LogEntry.Action.DELETE,
        actor=actor,
        text=f"Workspace deleted by {who}; deleted: {deleted}.",
        data={**data, "counts": report.counts},
    )
    return report


def audit_entries_anonymize(*, account_ids: list[int]) -> int:
    """Strip what names the person from the trail's entries about these accounts (a Meta data deletion request).

    The entries stay (who did what, when: a disconnection, a deletion) but no longer say whose account it was:
    the name, username and Instagram ids go from the entry's title, its recorded changes and its extra data.
    Returns how many entries were rewritten.
    """
    if not account_ids:
        return 0
    entries = LogEntry.objects.filter(
        content_type__app_label=InstagramAccount._meta.app_label,
        content_type__model=InstagramAccount._meta.model_name,
        object_id__in=account_ids,
    )
    rewritten = 0
    for entry in entries.iterator():
        data = entry.additional_data if isinstance(entry.additional_data, dict) else {}
        entry.object_repr = f"Instagram account {entry.object_id} (data deleted at the person's request)"
        entry.changes = {}
        entry.changes_text = ""
        entry.serialized_data = None
        entry.additional_data = {key: value for key, value in data.items() if key not in PERSONAL_KEYS} or None
        entry.save(update_fields=["object_repr", "changes", "changes_text", "serialized_data", "additional_data"])
        rewritten += 1
    return rewritten


# The extra data keys of the entries above that name the person behind an account.
PERSONAL_KEYS = frozenset({"username", "ig_user_id", "name"})
