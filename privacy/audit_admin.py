"""The operators' view of the audit trail: django-auditlog's entries in Unfold's style, read-only.

django-auditlog registers a plain ``ModelAdmin`` for its ``LogEntry``; this module (imported by
``privacy.admin``, which the admin's autodiscovery reaches before ``auditlog.admin``) imports that one first,
then puts an Unfold admin in its place with the same columns and rules: nothing added, changed or deleted
from here. The entries of disconnects and workspace deletions carry their own text and data, shown too.
"""

from __future__ import annotations

from typing import Any

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin
from django.http import HttpRequest
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.decorators import display

from instaforge.admin_helpers import json_block

if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class AuditEntryAdmin(LogEntryAdmin, ModelAdmin):
    list_display = ["created", "resource_url", "action", "summary", "user_url", "cid_url"]
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["created", "user_url", "actor_email", "resource_url", "cid"]}),
        ("Changes", {"fields": ["action", "summary", "msg", "details"]}),
    ]
    readonly_fields = ["created", "resource_url", "action", "user_url", "actor_email", "summary", "msg", "details"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The trail is evidence: not even a superuser deletes an entry here (django-auditlog's own admin
        # allows it when another model's deletion cascades; nothing in InstaForge cascades to entries).
        return False

    @display(description="what happened")
    def summary(self, entry: LogEntry) -> str:
        """The entry's own sentence (disconnects, workspace deletions), else the changed fields."""
        return entry.changes_text or self.msg_short(entry)

    @display(description="details")
    def details(self, entry: LogEntry) -> SafeString | str:
        return json_block(entry.additional_data) if entry.additional_data else "—"
