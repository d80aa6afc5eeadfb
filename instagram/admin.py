"""Inbound webhook events in the operators' admin: read-only, with the payload as Meta sent it."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AllValuesCheckboxFilter, ChoicesDropdownFilter
from unfold.decorators import display

from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin, json_block
from instagram.models import InboundEvent, InboundEventState

EVENT_STATE_BADGES: dict[str, str] = {
    InboundEventState.PENDING: "",
    InboundEventState.PROCESSING: "info",
    InboundEventState.PROCESSED: "success",
    InboundEventState.IGNORED: "",
    InboundEventState.FAILED: "danger",
}


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "id",
        "field",
        "object_type",
        "account",
        "state_badge",
        "received_at",
        "deliveries",
        "attempts",
        "outcome",
    )
    list_display_links = ("id", "field")
    list_select_related = ("account",)
    list_filter = (
        ("state", ChoicesDropdownFilter),
        ("field", AllValuesCheckboxFilter),
        ("workspace", AutocompleteFilter),
    )
    list_filter_submit = True
    search_fields = ("dedupe_key", "=entry_id")
    search_help_text = "Search by dedupe key or exact Instagram account id."
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("field", "object_type", "entry_id", "entry_time", "dedupe_key", "workspace", "account")}),
        ("Processing", {"fields": ("state", "received_at", "deliveries", "attempts", "processed_at", "outcome")}),
        ("Payload", {"fields": ("payload_display",)}),
        # The delivery's correlation id (docs/operations.md, "Logs"): grep for it to follow the event's work.
        ("Logs", {"fields": ("correlation_id",)}),
    )
    readonly_fields = ("payload_display", "correlation_id")

    @display(description="state", ordering="state", label=EVENT_STATE_BADGES)
    def state_badge(self, event: InboundEvent) -> tuple[str, str]:
        return event.state, event.get_state_display()

    @display(description="payload")
    def payload_display(self, event: InboundEvent) -> SafeString:
        return json_block(event.payload)
