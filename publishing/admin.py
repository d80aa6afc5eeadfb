"""Scheduled posts in the operators' admin: what each workspace has queued and what became of it."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from instaforge.admin_helpers import ReadOnlyInlineMixin
from publishing.models import PostEvent, PostMedia, ScheduledPost


class PostMediaInline(ReadOnlyInlineMixin, TabularInline):
    model = PostMedia
    fields = ("order", "media_type", "stored_name", "width", "height", "duration_seconds", "size_bytes")
    readonly_fields = fields

    @admin.display(description="file")
    def stored_name(self, item: PostMedia) -> str:
        # The name only: media has no public URL (members see it in the app, Meta through a signed URL).
        return item.file.name


class PostEventInline(ReadOnlyInlineMixin, TabularInline):
    model = PostEvent
    fields = ("at", "kind", "message", "action")
    readonly_fields = fields
    verbose_name = "history entry"
    verbose_name_plural = "history"


@admin.register(ScheduledPost)
class ScheduledPostAdmin(ModelAdmin):
    list_display = ("id", "workspace", "account", "kind", "state", "scheduled_at", "media_id", "state_reason")
    list_filter = (("state", ChoicesDropdownFilter), ("kind", ChoicesDropdownFilter))
    list_select_related = ("workspace", "account")
    search_fields = ("caption", "media_id", "container_id", "account__username")
    date_hierarchy = "scheduled_at"
    readonly_fields = (
        "schedule_version",
        "generation",
        "container_id",
        "children_container_ids",
        "container_created_at",
        "publish_intent_at",
        "media_id",
        "permalink",
        "published_at",
        "first_comment_id",
        "created_at",
        "updated_at",
    )
    inlines = (PostMediaInline, PostEventInline)
