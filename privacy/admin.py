"""The operators' view of data deletion requests (read-only: Meta's callback writes them, the task completes them)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from instaforge.admin_helpers import ReadOnlyAdminMixin, json_block
from privacy import audit_admin  # noqa: F401  (the audit trail's Unfold admin: privacy/audit_admin.py says why here)
from privacy.models import DataDeletionRequest, DeletionState

DELETION_STATE_BADGES: dict[str, str] = {
    DeletionState.PENDING: "warning",
    DeletionState.DONE: "success",
    DeletionState.FAILED: "danger",
}


@admin.register(DataDeletionRequest)
class DataDeletionRequestAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Meta's data deletion requests and their progress. A pending one with attempts and an error is being retried
    by the schedule ("privacy: retry data deletion requests"); the error says why it has not finished."""

    list_display = (
        "confirmation_code",
        "state_badge",
        "subject",
        "requested_at",
        "completed_at",
        "attempts",
        "deleted_total",
        "error",
    )
    list_filter = (("state", ChoicesDropdownFilter), ("subject", ChoicesDropdownFilter))
    list_filter_submit = True
    search_fields = ("=confirmation_code", "=ig_user_id")
    search_help_text = "Search by exact confirmation code or Instagram user id (kept only while pending)."
    date_hierarchy = "requested_at"
    fieldsets = (
        (None, {"fields": ("confirmation_code", "state", "subject", "ig_user_id")}),
        ("Progress", {"fields": ("requested_at", "completed_at", "attempts", "error")}),
        ("What was deleted", {"fields": ("summary_display",)}),
    )
    readonly_fields = ("summary_display",)

    @display(description="state", ordering="state", label=DELETION_STATE_BADGES)
    def state_badge(self, deletion: DataDeletionRequest) -> tuple[str, str]:
        return deletion.state, deletion.get_state_display()

    @display(description="deleted")
    def deleted_total(self, deletion: DataDeletionRequest) -> int:
        return sum(count for count in deletion.summary.values() if isinstance(count, int))

    @display(description="summary")
    def summary_display(self, deletion: DataDeletionRequest) -> SafeString:
        return json_block(deletion.summary)
