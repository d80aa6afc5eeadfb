"""The operators' admin for warm-ups: each account's plan, its days and history; extend, restart, skip.

Nothing is edited by hand: the buttons and bulk actions call the warm-up
services with the operator as actor and a reason, which both the warm-up
history and the account's lifecycle history record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.forms import BaseDialogForm

from accounts.admin import (
    STATE_BADGES,
    _operator,
    admin_redirect,
    reason_confirmation,
    reason_field,
)
from accounts.models import User
from accounts.services import ForbiddenTransition
from accounts.tenancy import workspace_scope
from instaforge.admin_helpers import AutocompleteFilter, ReadOnlyInlineMixin, superuser_only
from warmup.clock import warmup_day_of
from warmup.models import PlanStatus, WarmupDay, WarmupEvent, WarmupPlan
from warmup.services import WarmupError, warmup_extend, warmup_restart, warmup_skip

# One warm-up operation: (account id, operator, reason) -> anything.
Operation = Callable[[int, User, str], object]


def _reason_field() -> forms.CharField:
    return reason_field("Recorded with your name in the account's warm-up and lifecycle history.")


class WarmupReasonDialogForm(BaseDialogForm):
    reason = _reason_field()


class WarmupReasonForm(forms.Form):
    reason = _reason_field()


class WarmupDayInline(ReadOnlyInlineMixin, TabularInline):
    model = WarmupDay
    fields = ("local_date", "day", "phase", "target")
    readonly_fields = fields
    ordering = ("-local_date",)
    verbose_name_plural = "days (drawn targets)"


class WarmupEventInline(ReadOnlyInlineMixin, TabularInline):
    model = WarmupEvent
    fields = ("at", "local_date", "kind", "from_day", "to_day", "actor", "reason")
    readonly_fields = fields
    ordering = ("-at", "-id")
    verbose_name_plural = "history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WarmupEvent]:
        return super().get_queryset(request).select_related("actor")


OPERATIONS: dict[str, tuple[str, Operation]] = {
    "extend": (
        "extended",
        lambda account_id, actor, reason: warmup_extend(account_id=account_id, actor=actor, reason=reason),
    ),
    "restart": (
        "restarted at day 1",
        lambda account_id, actor, reason: warmup_restart(account_id=account_id, actor=actor, reason=reason),
    ),
    "skip": (
        "made active (warm-up skipped)",
        lambda account_id, actor, reason: warmup_skip(account_id=account_id, actor=actor, reason=reason),
    ),
}


@admin.register(WarmupPlan)
class WarmupPlanAdmin(ModelAdmin):
    list_display = ("account_name", "workspace", "status", "state_badge", "started_on", "day_local_date")
    list_select_related = ("account", "workspace")
    list_filter = (("status", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("account__username", "account__ig_user_id")
    ordering = ("-started_at", "-id")
    fields = (
        "account_link",
        "workspace",
        "status",
        "state_badge",
        "started_on",
        "day_local_date",
        "extensions_pending",
        "finished_at",
    )
    readonly_fields = fields
    inlines = (WarmupDayInline, WarmupEventInline)
    actions = ("extend_plans", "restart_plans", "skip_plans")
    actions_detail = ("extend_one", "restart_one", "skip_one")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a plan starts when an account is connected

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("warmup.change_warmupplan"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return superuser_only(request)

    # --- columns ---

    @display(description="account", ordering="account__username")
    def account_name(self, plan: WarmupPlan) -> str:
        return str(plan.account)

    @display(description="account")
    def account_link(self, plan: WarmupPlan) -> SafeString:
        url = reverse(f"{self.admin_site.name}:accounts_instagramaccount_change", args=[plan.account_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, plan.account)

    @display(description="account state", label=STATE_BADGES)
    def state_badge(self, plan: WarmupPlan) -> tuple[str, str]:
        return plan.account.state, plan.account.get_state_display()

    # --- running operations ---

    def _run(self, request: HttpRequest, plans: Iterable[WarmupPlan], *, what: str, reason: str) -> None:
        operator = _operator(request)
        done, operation = OPERATIONS[what]
        succeeded: list[str] = []
        refused: list[str] = []
        for plan in plans:
            try:
                with workspace_scope(plan.workspace_id):
                    operation(plan.account_id, operator, reason)
            except (ForbiddenTransition, WarmupError) as exc:
                refused.append(f"{plan.account}: {exc}")
            else:
                succeeded.append(str(plan.account))
        if succeeded:
            messages.success(request, f"{len(succeeded)} {done}: {', '.join(succeeded)}.")
        if refused:
            messages.warning(request, f"{len(refused)} refused: " + " ".join(refused))

    def _bulk(self, request: HttpRequest, queryset: QuerySet[WarmupPlan], *, what: str, title: str) -> Any:
        plans = list(queryset.select_related("account").order_by("account__username", "pk"))
        form = WarmupReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._run(request, plans, what=what, reason=form.cleaned_data["reason"])
            return None
        return reason_confirmation(
            self,
            request,
            selected=[(plan.pk, plan.account) for plan in plans],
            form=form,
            action_name=f"{what}_plans",
            title=title,
            heading=f"{title}: {len(plans)} account{pluralize(len(plans))}",
            intro="Give the reason; it is recorded with your name in each account's warm-up and lifecycle history.",
            submit=title,
            testid="warmup-reason",
        )

    @admin.action(description="Extend: repeat the current day of the selected warm-ups…", permissions=["change"])
    def extend_plans(self, request: HttpRequest, queryset: QuerySet[WarmupPlan]) -> HttpResponse | None:
        return self._bulk(request, queryset, what="extend", title="Extend warm-ups by one day")

    @admin.action(description="Restart the selected warm-ups at day 1…", permissions=["change"])
    def restart_plans(self, request: HttpRequest, queryset: QuerySet[WarmupPlan]) -> HttpResponse | None:
        return self._bulk(request, queryset, what="restart", title="Restart warm-ups at day 1")

    @admin.action(description="Skip the selected warm-ups (accounts become active)…", permissions=["change"])
    def skip_plans(self, request: HttpRequest, queryset: QuerySet[WarmupPlan]) -> HttpResponse | None:
        return self._bulk(request, queryset, what="skip", title="Skip warm-ups")

    # --- buttons on the change page ---

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> list[Any]:
        """Only what applies: extend and skip while warming up, restart for an acting account."""
        allowed = super().get_actions_detail(request, object_id)
        plan = self.get_object(request, unquote(str(object_id)))
        if plan is None:
            return []
        warming = plan.status == PlanStatus.RUNNING and warmup_day_of(plan.account) is not None
        applies = {"extend": warming, "skip": plan.account.warmup_day is not None, "restart": plan.account.is_acting}
        return [item for item in allowed if applies.get(item.path, True)]

    def _one(self, request: HttpRequest, object_id: str, *, what: str, reason: str) -> HttpResponse:
        plan = self.get_object(request, unquote(object_id))
        if plan is None:
            raise Http404("No such warm-up.")
        self._run(request, [plan], what=what, reason=reason)
        url = reverse(f"{self.admin_site.name}:warmup_warmupplan_change", args=[plan.pk])
        return admin_redirect(request, url)

    @action(
        description="Extend by a day",
        url_path="extend",
        icon="more_time",
        permissions=["change"],
        dialog={
            "title": "Repeat the current warm-up day",
            "description": "The next local midnight keeps the account on its current day.",
            "form_class": WarmupReasonDialogForm,
            "form_submit_text": "Extend",
        },
    )
    def extend_one(self, request: HttpRequest, form: WarmupReasonDialogForm, object_id: str) -> HttpResponse:
        return self._one(request, object_id, what="extend", reason=form.cleaned_data["reason"])

    @action(
        description="Restart at day 1",
        url_path="restart",
        icon="restart_alt",
        permissions=["change"],
        dialog={
            "title": "Restart the warm-up",
            "description": "The account goes back to day 1 today and ramps up again over seven days.",
            "form_class": WarmupReasonDialogForm,
            "form_submit_text": "Restart",
        },
    )
    def restart_one(self, request: HttpRequest, form: WarmupReasonDialogForm, object_id: str) -> HttpResponse:
        return self._one(request, object_id, what="restart", reason=form.cleaned_data["reason"])

    @action(
        description="Skip: make active",
        url_path="skip",
        icon="fast_forward",
        permissions=["change"],
        dialog={
            "title": "Skip the rest of the warm-up",
            "description": "The account becomes active now with the normal safety limits; held-back work is due.",
            "form_class": WarmupReasonDialogForm,
            "form_submit_text": "Skip",
        },
    )
    def skip_one(self, request: HttpRequest, form: WarmupReasonDialogForm, object_id: str) -> HttpResponse:
        return self._one(request, object_id, what="skip", reason=form.cleaned_data["reason"])
