"""The action ledger in the operators' admin: a record, never edited by hand."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.utils import display_for_label

from actions.models import Action, ActionDecision, ActionState, Verdict
from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin, ReadOnlyInlineMixin, json_block

ACTION_STATE_BADGES: dict[str, str] = {
    ActionState.PLANNED: "",
    ActionState.CLAIMED: "info",
    ActionState.SENDING: "info",
    ActionState.SUCCEEDED: "success",
    ActionState.FAILED: "danger",
    ActionState.DENIED: "warning",
    ActionState.UNKNOWN: "danger",
}

VERDICT_BADGES: dict[str, str] = {Verdict.ALLOW: "success", Verdict.DEFER: "info", Verdict.DENY: "danger"}


class ActionDecisionInline(ReadOnlyInlineMixin, TabularInline):
    """The safety gate's verdicts on the action, in order."""

    model = ActionDecision
    fields = ("at", "verdict_label", "reason", "until")
    readonly_fields = fields
    per_page = 50
    verbose_name = "gate decision"
    verbose_name_plural = "gate decisions"

    @display(description="verdict")
    def verdict_label(self, decision: ActionDecision) -> SafeString:
        return display_for_label((decision.verdict, decision.get_verdict_display()), "-", VERDICT_BADGES)


@admin.register(Action)
class ActionAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = (
        "id",
        "action_type",
        "account",
        "workspace",
        "state_badge",
        "due_at",
        "started_at",
        "attempts",
        "last_reason",
    )
    list_display_links = ("id", "action_type")
    list_select_related = ("account", "workspace")
    list_filter = (
        ("state", ChoicesDropdownFilter),
        ("action_type", ChoicesDropdownFilter),
        ("workspace", AutocompleteFilter),
        ("account", AutocompleteFilter),
    )
    list_filter_submit = True
    search_fields = ("idempotency_key",)
    search_help_text = "Search by idempotency key."
    # The ledger grows without bound: no COUNT(*) of the whole table on every page.
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {"fields": ("action_type", "account", "workspace", "state", "idempotency_key", "source_kind", "source_id")},
        ),
        (
            "Timing",
            {"fields": ("created_at", "due_at", "claimed_by", "lease_until", "started_at", "finished_at", "attempts")},
        ),
        ("Outcome", {"fields": ("last_reason", "result_display")}),
        ("Payload", {"fields": ("payload_display",)}),
        # The logs' correlation id (docs/operations.md, "Logs"): grep for it to follow the action's work.
        ("Logs", {"fields": ("correlation_id",)}),
    )
    readonly_fields = ("result_display", "payload_display", "correlation_id")
    inlines = (ActionDecisionInline,)

    @display(description="state", ordering="state", label=ACTION_STATE_BADGES)
    def state_badge(self, action: Action) -> tuple[str, str]:
        return action.state, action.get_state_display()

    @display(description="result")
    def result_display(self, action: Action) -> SafeString:
        return json_block(action.result)

    @display(description="payload")
    def payload_display(self, action: Action) -> SafeString:
        return json_block(action.payload)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Action]:
        return super().get_queryset(request).select_related("account", "workspace")
