"""The inbox in the operators' admin: read-mostly (members own their conversations; operators look)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin, ReadOnlyInlineMixin
from messaging.models import (
    Conversation,
    ConversationEvent,
    ConversationState,
    DmRule,
    Flow,
    FlowRun,
    FlowVersion,
    IceBreakerSet,
    Message,
    MessagingSettings,
    Note,
)

STATE_BADGES: dict[str, str] = {
    ConversationState.AUTOMATED: "info",
    ConversationState.WAITING: "warning",
    ConversationState.CLOSED: "",
}


class MessageInline(ReadOnlyInlineMixin, TabularInline):
    model = Message
    fields = ("created_at", "direction", "text", "is_echo", "is_deleted", "sent_by", "action")
    readonly_fields = fields
    ordering = ("-created_at", "-id")
    show_change_link = True


class NoteInline(ReadOnlyInlineMixin, TabularInline):
    model = Note
    fields = ("created_at", "author", "text")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("participant", "account", "workspace", "state_badge", "assigned_to", "last_message_at")
    list_select_related = ("account", "workspace", "assigned_to__user")
    list_filter = (
        ("state", ChoicesDropdownFilter),
        ("workspace", AutocompleteFilter),
        ("account", AutocompleteFilter),
    )
    list_filter_submit = True
    search_fields = ("participant_username", "participant_name", "=participant_igsid")
    show_full_result_count = False
    fields = (
        "account",
        "workspace",
        "participant_igsid",
        "participant_username",
        "participant_name",
        "state",
        "assigned_to",
        "last_message_at",
        "last_inbound_at",
        "last_message_preview",
        "created_at",
    )
    inlines = (MessageInline, NoteInline)

    @display(description="person", ordering="participant_username")
    def participant(self, conversation: Conversation) -> str:
        return str(conversation)

    @display(description="state", ordering="state", label=STATE_BADGES)
    def state_badge(self, conversation: Conversation) -> tuple[str, str]:
        return conversation.state, conversation.get_state_display()


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("text_excerpt", "direction", "conversation", "account", "is_echo", "is_deleted", "created_at")
    list_select_related = ("conversation", "account")
    list_filter = (("direction", ChoicesDropdownFilter), ("account", AutocompleteFilter), "is_echo", "is_deleted")
    list_filter_submit = True
    search_fields = ("text", "=mid")
    show_full_result_count = False
    fields = (
        "conversation",
        "account",
        "workspace",
        "mid",
        "direction",
        "text",
        "attachments",
        "is_echo",
        "is_deleted",
        "deleted_at",
        "sent_by",
        "action",
        "inbound_event",
        "created_at",
    )

    @display(description="text")
    def text_excerpt(self, message: Message) -> str:
        return "(deleted)" if message.is_deleted else Truncator(message.text).chars(80)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("conversation", "account")


# ---------------------------------------------------------------------------
# Automation: members build it in the web app; operators look here.


class FlowVersionInline(ReadOnlyInlineMixin, TabularInline):
    model = FlowVersion
    fields = ("number", "created_at", "created_by", "steps")
    readonly_fields = fields
    ordering = ("-number",)


@admin.register(Flow)
class FlowAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("name", "account", "workspace", "trigger_kind", "keywords", "is_active", "current_version")
    list_select_related = ("account", "workspace", "current_version")
    list_filter = (("workspace", AutocompleteFilter), ("account", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("name", "keywords")
    inlines = [FlowVersionInline]


@admin.register(DmRule)
class DmRuleAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("name", "account", "workspace", "trigger_kind", "keywords", "intent", "is_active")
    list_select_related = ("account", "workspace")
    list_filter = (("workspace", AutocompleteFilter), ("account", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("name", "keywords")


@admin.register(IceBreakerSet)
class IceBreakerSetAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("account", "workspace", "questions", "revision", "updated_at")
    list_select_related = ("account", "workspace")
    list_filter = (("workspace", AutocompleteFilter),)
    list_filter_submit = True


@admin.register(FlowRun)
class FlowRunAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("conversation", "version", "status", "step_id", "resume_at", "updated_at")
    list_select_related = ("conversation", "version__flow")
    list_filter = (("status", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    show_full_result_count = False


@admin.register(ConversationEvent)
class ConversationEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("kind", "conversation", "workspace", "created_at")
    list_select_related = ("conversation", "workspace")
    list_filter = (("workspace", AutocompleteFilter),)
    list_filter_submit = True
    search_fields = ("kind",)
    show_full_result_count = False


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("workspace", "ai_enabled", "ai_model", "classifier_ai", "handover_keywords")
    list_select_related = ("workspace",)
    # The API key stays out of the admin, even encrypted.
    exclude = ("ai_api_key_encrypted",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
