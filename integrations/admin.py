"""CRM webhook endpoints and deliveries in the operators' admin (customers manage them in the web app)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from integrations.services import webhook_delivery_resend

DELIVERY_BADGES: dict[str, str] = {
    DeliveryState.SUCCEEDED: "success",
    DeliveryState.PENDING: "warning",
    DeliveryState.SENDING: "info",
    DeliveryState.FAILED: "danger",
}


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("url", "workspace", "is_active", "event_kinds", "created_at")
    list_select_related = ("workspace",)
    list_filter = (("workspace", AutocompleteFilter), "is_active")
    list_filter_submit = True
    search_fields = ("url", "description")
    fields = ("url", "description", "workspace", "event_kinds", "is_active", "created_at")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("event_kind", "endpoint", "state_badge", "attempts", "last_status_code", "next_attempt_at")
    list_select_related = ("endpoint",)
    list_filter = (("state", ChoicesDropdownFilter), ("event_kind", ChoicesDropdownFilter))
    list_filter_submit = True
    search_fields = ("=event_id", "endpoint__url")
    show_full_result_count = False
    fields = (
        "endpoint",
        "workspace",
        "event_id",
        "event_kind",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_response_excerpt",
        "last_error",
        "created_at",
        "delivered_at",
        "resent_from",
        "body",
    )
    actions = ("resend",)

    @display(description="state", ordering="state", label=DELIVERY_BADGES)
    def state_badge(self, delivery: WebhookDelivery) -> tuple[str, str]:
        return delivery.state, delivery.get_state_display()

    @admin.action(description="Re-send selected deliveries")
    def resend(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = 0
        for delivery in queryset.select_related("endpoint"):
            webhook_delivery_resend(delivery=delivery)
            count += 1
        messages.success(request, f"{count} deliver{'ies' if count != 1 else 'y'} queued again.")
