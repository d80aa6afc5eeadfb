"""The workspace activity log: who changed which rule, flow, endpoint, setting or member, in plain words.

It reads django-auditlog's entries (privacy/audit.py registers the models), next to the domain histories that
already exist (an account's transitions, the safety changes, a flow's versions). An entry has no workspace
column: each one written for a followed row carries its workspace's id in ``additional_data`` (tagged when it
is written, ``privacy.audit.audit_workspace_tag``), and only the entries carrying the workspace's own id are
read — a deleted rule's entry included, another workspace's never. What changed is told field by field with
the model's own labels; secrets never enter the trail (vault fields and the invitation token are excluded
there), and values are redacted again here in case a URL or a text holds a credential.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import QuerySet
from django.urls import reverse

from accounts.models import InstagramAccount, Invitation, Membership, Workspace
from alerts.models import AlertSettings
from engagement.models import CommentRule, CommentSettings
from instaforge.redaction import secrets_redact, url_redact
from integrations.models import WebhookEndpoint
from messaging.models import DmRule, Flow, IceBreakerSet, MessagingSettings
from safety.models import SafetyOverride

ENTRIES_PER_PAGE = 50
# A changed value longer than this (a reply template, a list of keywords) is cut, the rest elided.
VALUE_SHOWN_MAX = 120


@dataclass(frozen=True)
class ActivityKind:
    """One kind of thing the log follows: how it is named, and where a row that still exists is seen."""

    slug: str
    label: str  # for the filter: "Comment rules"
    noun: str  # in a sentence: "comment rule"
    model: type[models.Model]
    link: Callable[[Any, int], str]  # (the row, the workspace id) -> its page
    # When an update changed only fields that are not shown (a secret, a timestamp), what happened in words.
    quiet_change: str = "changed a setting that is not shown"


def _account_page(name: str) -> Callable[[Any, int], str]:
    return lambda row, _workspace_id: reverse(name, args=[row.account_id])


ACTIVITY_KINDS: tuple[ActivityKind, ...] = (
    ActivityKind(
        "comment-rules",
        "Comment rules",
        "comment rule",
        CommentRule,
        lambda row, _w: reverse("rule_edit", args=[row.account_id, row.pk]),
    ),
    ActivityKind(
        "comment-settings", "Comment settings", "comment settings", CommentSettings, _account_page("comment_settings")
    ),
    ActivityKind("dm-rules", "DM rules", "DM rule", DmRule, lambda row, _w: reverse("dm_rule_edit", args=[row.pk])),
    ActivityKind("flows", "Flows", "flow", Flow, lambda row, _w: reverse("flow_edit", args=[row.pk])),
    ActivityKind(
        "messaging-settings",
        "Messaging settings",
        "messaging settings",
        MessagingSettings,
        lambda _row, _w: reverse("messaging_settings"),
        quiet_change="changed the AI provider's API key (not shown)",
    ),
    ActivityKind("ice-breakers", "Ice breakers", "ice breakers", IceBreakerSet, _account_page("ice_breakers_edit")),
    ActivityKind(
        "endpoints",
        "CRM endpoints",
        "CRM endpoint",
        WebhookEndpoint,
        lambda row, _w: reverse("webhook_endpoint_edit", args=[row.pk]),
        quiet_change="changed its signing secret (not shown)",
    ),
    ActivityKind(
        "safety",
        "Safety settings",
        "safety settings",
        SafetyOverride,
        lambda row, _w: (
            reverse("account_safety", args=[row.account_id]) if row.account_id else reverse("workspace_safety")
        ),
    ),
    ActivityKind(
        "alerts",
        "Alert settings",
        "alert settings",
        AlertSettings,
        lambda _row, _w: reverse("alert_settings"),
        quiet_change="changed the Slack channel's webhook address (a secret: not shown)",
    ),
    ActivityKind("members", "Members", "member", Membership, lambda _row, _w: reverse("members")),
    ActivityKind("invitations", "Invitations", "invitation", Invitation, lambda _row, _w: reverse("members")),
    ActivityKind(
        "accounts",
        "Instagram accounts",
        "Instagram account",
        InstagramAccount,
        lambda row, _w: reverse("account_detail", args=[row.pk]),
        quiet_change="renewed its connection to Instagram",
    ),
    ActivityKind(
        "workspace",
        "Workspace",
        "workspace",
        Workspace,
        lambda row, workspace_id: reverse("members") if row.pk == workspace_id else "",
    ),
)
KINDS_BY_SLUG = {kind.slug: kind for kind in ACTIVITY_KINDS}

# Fields whose change is bookkeeping, not a decision someone made: never listed.
HIDDEN_FIELDS = frozenset(
    {
        "id",
        "workspace",
        "account",
        "created_at",
        "updated_at",
        "updated_by",
        "created_by",
        "invited_by",
        "accepted_by",
        "revision",
        "joined_at",
        "state_changed_at",
        "connected_at",
        "token_expires_at",
        "token_refreshed_at",
        "token_permissions",
        "resume_state",
        "state_before_suspension",
        "state_before_error",
    }
)


@dataclass
class ActivityEntry:
    """One line of the log as the page shows it."""

    at: datetime
    who: str
    kind: str
    what: str
    link: str
    action: str  # "created", "changed", "deleted"
    changes: list[str] = field(default_factory=list)


def activity_entries(*, workspace_id: int, kind: str = "", actor_id: int | None = None) -> QuerySet[LogEntry]:
    """The workspace's own entries, newest first, optionally of one kind and by one person.

    Only entries tagged with ``workspace_id`` when they were written, about the followed kinds.
    """
    kinds = [KINDS_BY_SLUG[kind]] if kind in KINDS_BY_SLUG else list(ACTIVITY_KINDS)
    content_types = ContentType.objects.get_for_models(*(item.model for item in kinds)).values()
    entries = LogEntry.objects.filter(
        additional_data__workspace_id=workspace_id, content_type__in=list(content_types)
    ).select_related("actor", "content_type")
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    return entries.order_by("-timestamp", "-id")


def activity_describe(*, entries: list[LogEntry], workspace_id: int, member_user_ids: set[int]) -> list[ActivityEntry]:
    """The page's lines for ``entries`` (one page of them): names, links to the rows that still exist, changes.

    Runs in the workspace's scope: the rows are looked up with the scoped managers, one query per kind shown.
    A person who is no longer a member is named by the address the entry kept; a staff user who is not a
    member is "an InstaForge operator"; no actor at all is InstaForge itself (a schedule, the dispatcher).
    """
    kinds_by_model = {item.model: item for item in ACTIVITY_KINDS}
    wanted: dict[type[models.Model], set[int]] = {}
    for entry in entries:
        model = entry.content_type.model_class()
        if model in kinds_by_model and entry.object_id is not None:
            wanted.setdefault(model, set()).add(int(entry.object_id))
    existing: dict[tuple[type[models.Model], int], Any] = {}
    for model, ids in wanted.items():
        for row in _rows_in_scope(model, ids, workspace_id=workspace_id):
            existing[(model, row.pk)] = row
    lines = []
    for entry in entries:
        model = entry.content_type.model_class()
        kind = kinds_by_model.get(model)
        if kind is None:
            continue
        row = existing.get((kind.model, int(entry.object_id or 0)))
        lines.append(
            ActivityEntry(
                at=entry.timestamp,
                who=_who(entry, member_user_ids=member_user_ids),
                kind=kind.noun,
                what=_what(entry, kind=kind, row=row),
                link=kind.link(row, workspace_id) if row is not None else "",
                action=_action_word(entry),
                changes=_changes_in_words(entry, kind=kind),
            )
        )
    return lines


def _rows_in_scope(model: type[models.Model], ids: set[int], *, workspace_id: int) -> list[Any]:
    if model is Workspace:
        return list(Workspace.objects.filter(pk__in=ids & {workspace_id}))
    rows = model.objects.filter(pk__in=ids)  # type: ignore[attr-defined]  # the scoped manager: this workspace's
    if any(item.name == "account" for item in model._meta.concrete_fields):
        rows = rows.select_related("account")
    return list(rows)


def _who(entry: LogEntry, *, member_user_ids: set[int]) -> str:
    if entry.actor is not None:
        if entry.actor.pk not in member_user_ids and entry.actor.is_staff:
            return "an InstaForge operator"
        return str(entry.actor.email)
    if entry.actor_email:
        return str(entry.actor_email)
    return "InstaForge (automatically)"


def _what(entry: LogEntry, *, kind: ActivityKind, row: Any) -> str:
    """The row's name: as it is now when it still exists, else as the entry recorded it."""
    account = getattr(row, "account", None) if row is not None else None
    if kind.model in (CommentSettings, IceBreakerSet) and account is not None:
        return f"{kind.noun} of {account}"
    if kind.model is SafetyOverride and row is not None:
        return f"safety of {account}" if account is not None else "safety of the workspace"
    if kind.model in (MessagingSettings, AlertSettings):
        return f"the workspace's {kind.noun}"
    name = str(row) if row is not None else entry.object_repr
    if kind.model is Membership:
        name = name.split(" in ", 1)[0]  # "ann@example.com in Acme (admin)"
    elif kind.model is Invitation:
        name = name.removeprefix("Invitation of ").split(" to ", 1)[0]
    if name.startswith(("http://", "https://")):
        return url_redact(name)
    return secrets_redact(name)


def _action_word(entry: LogEntry) -> str:
    if entry.action == LogEntry.Action.CREATE:
        return "created"
    if entry.action == LogEntry.Action.DELETE:
        return "deleted"
    return "changed"


def _changes_in_words(entry: LogEntry, *, kind: ActivityKind) -> list[str]:
    """What changed, one line per field, with the model's labels and choices; a few kinds in their own words."""
    if entry.changes_text:  # the entries written by hand (disconnecting an account) carry their own sentence
        return [secrets_redact(entry.changes_text)]
    changes: dict[str, Any] = entry.changes_dict or {}
    if kind.model is Membership:
        role = _field_value(Membership, "role", _new_or_old(changes.get("role"), entry.action))
        if entry.action == LogEntry.Action.CREATE:
            return [f"joined as {role.lower()}"] if role else ["joined"]
        if entry.action == LogEntry.Action.DELETE:
            return [f"removed from the workspace (was {role.lower()})"] if role else ["removed from the workspace"]
    if kind.model is Invitation:
        role = _field_value(Invitation, "role", _new_or_old(changes.get("role"), entry.action))
        if entry.action == LogEntry.Action.CREATE:
            return [f"invited as {role.lower()}"] if role else ["invited"]
        if entry.action == LogEntry.Action.DELETE:
            return ["invitation withdrawn (revoked, replaced or the workspace deleted)"]
        if "accepted_at" in changes:
            return ["accepted the invitation"]
        if "expires_at" in changes:
            return ["sent again, with a new link valid for 7 days"]
    if entry.action != LogEntry.Action.UPDATE:
        return []
    lines = []
    for name, values in changes.items():
        if name in HIDDEN_FIELDS or not isinstance(values, list | tuple) or len(values) != 2:
            continue
        if kind.model is Flow and name == "current_version":
            lines.append("saved a new version of its steps")
            continue
        label, is_relation = _field_label(kind.model, name)
        if is_relation:
            lines.append(f"{label} changed")
            continue
        old, new = (_field_value(kind.model, name, value) for value in values)
        lines.append(f"{label}: {old} → {new}")
    if not lines:
        return [kind.quiet_change]
    return lines


def _new_or_old(values: Any, action: int) -> str:
    if not isinstance(values, list | tuple) or len(values) != 2:
        return ""
    return str(values[0] if action == LogEntry.Action.DELETE else values[1])


def _field_label(model: type[models.Model], name: str) -> tuple[str, bool]:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return name.replace("_", " ").capitalize(), False
    label = str(getattr(model_field, "verbose_name", name))
    return label[:1].upper() + label[1:], bool(model_field.is_relation)


def _field_value(model: type[models.Model], name: str, value: Any) -> str:
    """A recorded value (django-auditlog keeps them as text) as a person reads it, redacted and cut short."""
    text = "" if value is None else str(value)
    if text in ("", "None"):
        return "(empty)"
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        model_field = None
    if model_field is not None:
        choices = dict(getattr(model_field, "flatchoices", None) or [])
        if text in choices:
            return str(choices[text])
        if isinstance(model_field, models.BooleanField):
            return {"True": "on", "False": "off"}.get(text, text)
        if isinstance(model_field, models.URLField):
            return url_redact(text)
    text = url_redact(text) if text.startswith(("http://", "https://")) else secrets_redact(text)
    if len(text) > VALUE_SHOWN_MAX:
        text = text[: VALUE_SHOWN_MAX - 1] + "…"
    return text
