"""Alerts in the operators' admin: every workspace's and the platform's, read-only (the sweep writes them)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from alerts.conditions import CONDITIONS
from alerts.models import Alert, AlertNotification
from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin, ReadOnlyInlineMixin


class OpenFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        if self.value() == "open":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class ConditionFilter(admin.SimpleListFilter):
    title = "condition"
    parameter_name = "condition"

    def lookups(self, request: HttpRequest, model_admin: object) -> list[tuple[str, str]]:
        return [(condition.key, condition.label) for condition in CONDITIONS]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Alert]) -> QuerySet[Alert]:
        return queryset.filter(condition=self.value()) if self.value() else queryset


class AlertNotificationInline(ReadOnlyInlineMixin, TabularInline):
    model = AlertNotification
    fields = ("event", "audience", "channel", "state", "attempts", "last_error", "created_at", "sent_at")
    readonly_fields = fields


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "title",
        "condition",
        "scope",
        "workspace",
        "status_badge",
        "opened_at",
        "last_seen_at",
        "resolved_at",
    )
    list_select_related = ("workspace",)
    list_filter = (OpenFilter, ConditionFilter, ("scope", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("title", "subject")
    show_full_result_count = False
    fields = (
        "title",
        "condition",
        "scope",
        "workspace",
        "subject",
        "detail",
        "opened_at",
        "last_seen_at",
        "resolved_at",
        "acknowledged_at",
        "acknowledged_by",
    )
    inlines = (AlertNotificationInline,)

    @display(description="status", label={"open": "danger", "resolved": "success"})
    def status_badge(self, alert: Alert) -> tuple[str, str]:
        return ("open", "Open") if alert.is_open else ("resolved", "Resolved")
