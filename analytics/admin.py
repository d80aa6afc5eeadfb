"""The operators' view of stored insights: read-only, as Meta reported them (analytics/insights.py writes them)."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from analytics.models import AccountInsight, InsightsOutcome, InsightsRefresh, MediaInsight
from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin


@admin.register(AccountInsight)
class AccountInsightAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("day", "account", "metric", "value", "fetched_at", "workspace")
    list_select_related = ("account", "workspace")
    list_filter = (("account", AutocompleteFilter), ("workspace", AutocompleteFilter), "metric")
    list_filter_submit = True
    search_fields = ("account__username", "metric")
    date_hierarchy = "day"
    ordering = ("-day", "account", "metric")
    show_full_result_count = False


@admin.register(MediaInsight)
class MediaInsightAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("media_id", "account", "kind", "posted_at", "reach", "views", "interactions", "fetched_at")
    list_select_related = ("account",)
    list_filter = (("account", AutocompleteFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("media_id", "caption", "account__username")
    ordering = ("-posted_at",)
    fields = (
        "workspace",
        "account",
        "media_id",
        "media_type",
        "media_product_type",
        "caption",
        "permalink",
        "posted_at",
        "metrics",
        "fetched_at",
    )
    show_full_result_count = False

    @display(description="kind")
    def kind(self, row: MediaInsight) -> str:
        return (row.media_product_type or row.media_type).replace("_", " ").lower()

    @display(description="reach")
    def reach(self, row: MediaInsight) -> object:
        return row.metrics.get("reach", "—")

    @display(description="views")
    def views(self, row: MediaInsight) -> object:
        return row.metrics.get("views", "—")

    @display(description="interactions")
    def interactions(self, row: MediaInsight) -> object:
        return row.metrics.get("total_interactions", "—")


@admin.register(InsightsRefresh)
class InsightsRefreshAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("account", "outcome_badge", "attempted_at", "succeeded_at", "calls", "requested_at", "detail")
    list_select_related = ("account",)
    list_filter = (("outcome", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("account__username", "detail")
    ordering = ("-attempted_at",)

    @display(
        description="outcome",
        label={
            InsightsOutcome.OK: "success",
            InsightsOutcome.PERMISSION_MISSING: "danger",
            InsightsOutcome.RATE_LIMITED: "warning",
            InsightsOutcome.FAILED: "danger",
        },
    )
    def outcome_badge(self, row: InsightsRefresh) -> tuple[str, str]:
        return (row.outcome, row.get_outcome_display() if row.outcome else "Never read")
