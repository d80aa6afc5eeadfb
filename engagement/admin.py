"""Comment rules and received comments in the operators' admin (read-mostly: customers own them)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.text import Truncator
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from engagement.models import Comment, CommentOutcome, CommentRule
from engagement.services import comment_rule_active_set, comment_rule_save
from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyAdminMixin

OUTCOME_BADGES: dict[str, str] = {
    CommentOutcome.REPLY_PLANNED: "success",
    CommentOutcome.NO_RULE_MATCHED: "",
    CommentOutcome.OWN_COMMENT: "",
    CommentOutcome.AUTO_HIDDEN: "warning",
}


@admin.register(CommentRule)
class CommentRuleAdmin(ModelAdmin):
    """Rules are written by members in the web app; an operator may only switch one off (or on)."""

    list_display = ("name", "account", "workspace", "priority", "is_active", "keyword_summary", "trigger_problem")
    list_select_related = ("account", "workspace")
    list_filter = (("workspace", AutocompleteFilter), ("account", AutocompleteFilter), "is_active")
    list_filter_submit = True
    search_fields = ("name", "keywords", "account__username")
    ordering = ("workspace__name", "account__username", "priority", "id")
    fields = (
        "name",
        "account",
        "workspace",
        "is_active",
        "priority",
        "trigger_type",
        "keywords",
        "trigger_problem",
        "scope",
        "reply_templates",
        "private_reply_templates",
        "action_hide",
        "action_delete",
        "action_flag",
        "created_at",
    )
    readonly_fields = (
        "name",
        "account",
        "workspace",
        "priority",
        "trigger_type",
        "keywords",
        "scope",
        "reply_templates",
        "private_reply_templates",
        "action_hide",
        "action_delete",
        "action_flag",
        "created_at",
        "trigger_problem",
    )
    actions = ("deactivate_rules", "activate_rules")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CommentRule | None = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def save_model(self, request: HttpRequest, obj: CommentRule, form: ModelForm[CommentRule], change: bool) -> None:
        comment_rule_save(rule=obj)

    @display(description="keywords")
    def keyword_summary(self, rule: CommentRule) -> str:
        return Truncator(", ".join(rule.keyword_list)).chars(60)

    @display(description="trigger problem")
    def trigger_problem(self, rule: CommentRule) -> str:
        # A rule saved before RE2 and the limits: it never matches, or only its first keywords do.
        return rule.trigger_problem or "-"

    def _set_active(self, request: HttpRequest, queryset: QuerySet[CommentRule], *, active: bool) -> None:
        changed = 0
        for rule in queryset:
            if rule.is_active != active:
                try:
                    comment_rule_active_set(rule=rule, active=active)
                except ValidationError as exc:
                    messages.error(request, f"Rule “{rule}” not changed: {' '.join(exc.messages)}")
                    continue
                changed += 1
        messages.success(
            request, f"{changed} rule{'s' if changed != 1 else ''} {'activated' if active else 'deactivated'}."
        )

    @admin.action(description="Deactivate selected rules", permissions=["change"])
    def deactivate_rules(self, request: HttpRequest, queryset: QuerySet[CommentRule]) -> None:
        self._set_active(request, queryset, active=False)

    @admin.action(description="Activate selected rules", permissions=["change"])
    def activate_rules(self, request: HttpRequest, queryset: QuerySet[CommentRule]) -> None:
        self._set_active(request, queryset, active=True)


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("commenter", "text_excerpt", "account", "outcome_badge", "matched_rule", "received_at")
    list_select_related = ("account", "matched_rule")
    list_filter = (
        ("outcome", ChoicesDropdownFilter),
        ("review_state", ChoicesDropdownFilter),
        ("workspace", AutocompleteFilter),
        ("account", AutocompleteFilter),
    )
    list_filter_submit = True
    search_fields = ("text", "from_username", "=ig_comment_id")
    show_full_result_count = False
    fields = (
        "account",
        "workspace",
        "ig_comment_id",
        "media_id",
        "media_product_type",
        "parent_id",
        "from_id",
        "from_username",
        "text",
        "is_mention",
        "sentiment",
        "language",
        "review_state",
        "received_at",
        "inbound_event",
        "matched_rule",
        "outcome",
    )

    @display(description="from", ordering="from_username")
    def commenter(self, comment: Comment) -> str:
        return f"@{comment.from_username}" if comment.from_username else comment.from_id

    @display(description="text")
    def text_excerpt(self, comment: Comment) -> str:
        return Truncator(comment.text).chars(80)

    @display(description="outcome", ordering="outcome", label=OUTCOME_BADGES)
    def outcome_badge(self, comment: Comment) -> tuple[str, str] | str:
        return (comment.outcome, comment.get_outcome_display()) if comment.outcome else "-"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Comment]:
        return super().get_queryset(request).select_related("account", "matched_rule")
