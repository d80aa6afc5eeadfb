"""The operators' admin for people, workspaces and Instagram accounts.

The admin is cross-tenant by nature: tenant-owned models use their
``all_workspaces`` default manager here. An account's state is never edited
by hand: every admin action calls the matching lifecycle service in
``accounts.services`` with the operator as actor, so each change is recorded
as an ``AccountTransition``. The encrypted token is never displayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import ngettext
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.forms import AdminPasswordChangeForm, BaseDialogForm, UserChangeForm, UserCreationForm
from unfold.utils import display_for_label
from unfold.widgets import UnfoldAdminTextareaWidget

from accounts import lifecycle
from accounts.models import (
    AccountState,
    AccountTransition,
    InstagramAccount,
    Invitation,
    Membership,
    SuspendedAccount,
    User,
    Workspace,
)
from accounts.services import (
    ConnectionFailed,
    ForbiddenTransition,
    account_approve,
    account_pause,
    account_reconnect_with_stored_token,
    account_resume,
    account_suspend,
)
from accounts.tenancy import workspace_scope
from instaforge.admin_helpers import (
    AutocompleteFilter,
    ReadOnlyAdminMixin,
    ReadOnlyInlineMixin,
    superuser_only,
)
from privacy.audit import account_disconnect_audited, workspace_erase_audited
from safety.selectors import suspension_evidence_annotations

# Colour of each account state's badge.
STATE_BADGES: dict[str, str] = {
    AccountState.INACTIVE: "",
    AccountState.CONNECTING: "info",
    **{day: "info" for day in lifecycle.WARMUP_DAYS},
    AccountState.ACTIVE: "success",
    AccountState.PAUSED: "warning",
    AccountState.SUSPENDED: "danger",
    AccountState.ERROR: "danger",
}


# --- people -------------------------------------------------------------------------------------------------


class EmailUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class EmailUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return str(self.cleaned_data["email"]).strip().lower()


class MembershipOfUserInline(ReadOnlyInlineMixin, TabularInline):
    model = Membership
    fk_name = "user"
    fields = ("workspace", "role", "joined_at")
    readonly_fields = fields
    verbose_name_plural = "workspaces"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("workspace")


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    """Users log in with their email address; there is no username."""

    form = EmailUserChangeForm
    add_form = EmailUserCreationForm
    change_password_form = AdminPasswordChangeForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    readonly_fields = ("last_login", "date_joined")
    list_display = ("email", "first_name", "last_name", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    inlines = (MembershipOfUserInline,)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> Any:
        return self.inlines if obj is not None else ()


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


# --- workspaces ---------------------------------------------------------------------------------------------


class MembershipInline(TabularInline):
    model = Membership
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)
    autocomplete_fields = ("user",)
    extra = 0

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user")


class AccountOfWorkspaceInline(ReadOnlyInlineMixin, TabularInline):
    model = InstagramAccount
    fields = ("username", "state", "state_changed_at", "token_expires_at")
    readonly_fields = fields
    show_change_link = True
    verbose_name_plural = "Instagram accounts"


def _count_of(model: Any) -> Coalesce:
    """The number of ``model`` rows of each workspace, as a subquery (tenant rows have no reverse relation)."""
    rows = (
        model._default_manager.filter(workspace=OuterRef("pk"))
        .order_by()
        .values("workspace")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


@admin.register(Workspace)
class WorkspaceAdmin(ModelAdmin):
    list_display = ("name", "member_count", "account_count", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    ordering = ("name", "id")
    fields = ("name", "created_by", "created_at")
    readonly_fields = ("created_by", "created_at")
    inlines = (MembershipInline, AccountOfWorkspaceInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=_count_of(Membership), account_count=_count_of(InstagramAccount))
        )

    @display(description="members", ordering="member_count")
    def member_count(self, workspace: Workspace) -> int:
        return int(getattr(workspace, "member_count", 0))

    @display(description="Instagram accounts", ordering="account_count")
    def account_count(self, workspace: Workspace) -> int:
        return int(getattr(workspace, "account_count", 0))

    def has_delete_permission(self, request: HttpRequest, obj: Workspace | None = None) -> bool:
        # Deleting a workspace deletes its accounts and their whole ledger.
        return superuser_only(request)

    def delete_model(self, request: HttpRequest, obj: Workspace) -> None:
        # Through the erasure (batches, media files, inbound events, an audit entry), never a bare cascade.
        workspace_erase_audited(workspace=obj, actor=_operator(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> None:
        for workspace in queryset:
            workspace_erase_audited(workspace=workspace, actor=_operator(request))


@admin.register(Membership)
class MembershipAdmin(ModelAdmin):
    list_display = ("user", "workspace", "role", "joined_at")
    list_select_related = ("user", "workspace")
    list_filter = (("role", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("user__email", "workspace__name")
    autocomplete_fields = ("user", "workspace")
    readonly_fields = ("joined_at",)
    ordering = ("workspace__name", "user__email")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Invitations are sent by members from the web app (the service emails the link).

    Operators only see them, or revoke one by deleting it.

    The token is the secret part of the invitation link, so it is never shown.
    """

    list_display = ("email", "workspace", "role", "status", "invited_by", "created_at", "expires_at")
    list_select_related = ("workspace", "invited_by")
    list_filter = (("role", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("email", "workspace__name")
    fields = (
        "email",
        "workspace",
        "role",
        "status",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
        "accepted_by",
    )
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoking an invitation is deleting it.
        return bool(request.user.has_perm("accounts.delete_invitation"))

    @display(description="status", label={"open": "success", "accepted": "info", "expired": ""})
    def status(self, invitation: Invitation) -> tuple[str, str]:
        if invitation.accepted_at is not None:
            return "accepted", "accepted"
        return ("open", "open") if invitation.is_open else ("expired", "expired")


# --- Instagram accounts -------------------------------------------------------------------------------------


class AccountTransitionInline(ReadOnlyInlineMixin, TabularInline):
    """The account's lifecycle history, newest first."""

    model = AccountTransition
    fk_name = "account"
    fields = ("at", "from_state", "to_state", "actor", "cause", "reason")
    readonly_fields = fields
    ordering = ("-at", "-id")
    per_page = 20
    verbose_name = "transition"
    verbose_name_plural = "transition history"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AccountTransition]:
        return super().get_queryset(request).select_related("actor")


class InstagramAccountForm(forms.ModelForm[InstagramAccount]):
    class Meta:
        model = InstagramAccount
        fields = ("time_zone",)

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data["time_zone"]).strip()
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError("Not a known IANA time zone (e.g. Europe/Paris).") from exc
        return name


class TransitionNoteForm(BaseDialogForm):
    reason = forms.CharField(
        label="Note for the history",
        required=False,
        max_length=500,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
    )


def reason_field(help_text: str) -> forms.CharField:
    """The operator's reason for an admin operation (a bulk action's page, a button's dialog)."""
    return forms.CharField(
        label="Reason", max_length=500, help_text=help_text, widget=UnfoldAdminTextareaWidget(attrs={"rows": 3})
    )


def _suspension_reason_field() -> forms.CharField:
    return reason_field("Recorded in the account's history and shown in the review queue.")


def admin_redirect(request: HttpRequest, url: str) -> HttpResponse:
    """After an action button: htmx (unfold's dialogs) follows ``HX-Redirect``, a plain form a redirect."""
    if request.headers.get("HX-Request"):
        return HttpResponse(headers={"HX-Redirect": url})
    return HttpResponseRedirect(url)


def reason_confirmation(
    model_admin: ModelAdmin,
    request: HttpRequest,
    *,
    selected: list[tuple[int, InstagramAccount]],
    form: forms.Form,
    action_name: str,
    title: str,
    heading: str,
    intro: str,
    submit: str,
    testid: str,
    variant: str = "",
) -> TemplateResponse:
    """The intermediate page of a bulk action that asks for the operator's reason (admin/reason_confirmation.html)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "selected": selected,
        "form": form,
        "action_name": action_name,
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
        "confirm_heading": heading,
        "confirm_intro": intro,
        "confirm_submit": submit,
        "confirm_variant": variant,
        "confirm_testid": testid,
    }
    return TemplateResponse(request, "admin/reason_confirmation.html", context)


class SuspensionReasonForm(forms.Form):
    """The intermediate page of the bulk suspend action."""

    reason = _suspension_reason_field()


class SuspensionReasonDialogForm(BaseDialogForm):
    """The dialog of the change page's suspend button."""

    reason = _suspension_reason_field()


# One lifecycle operation on one account, as the admin runs it: (account id, operator) -> anything.
Operation = Callable[[int, User], object]

# The operations of the change page's buttons, by url path, and when each applies.
DETAIL_OPERATIONS: dict[str, Callable[[InstagramAccount], bool]] = {
    "pause": lambda account: lifecycle.transition_refusal(account, AccountState.PAUSED) is None,
    "resume": lambda account: account.state == AccountState.PAUSED,
    "suspend": lambda account: lifecycle.transition_refusal(account, AccountState.SUSPENDED) is None,
    "approve": lambda account: account.state == AccountState.SUSPENDED,
    "reconnect": lambda account: (
        lifecycle.is_allowed(account.state, AccountState.CONNECTING) and bool(account.access_token_encrypted)
    ),
}

MAX_NAMES_IN_MESSAGE = 10


def _operator(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # the admin only serves logged-in staff; this also narrows the type
        raise PermissionDenied
    return user


def _names(accounts: list[str]) -> str:
    shown = ", ".join(accounts[:MAX_NAMES_IN_MESSAGE])
    hidden = len(accounts) - MAX_NAMES_IN_MESSAGE
    return f"{shown} and {hidden} more" if hidden > 0 else shown


def _why(account: InstagramAccount, exc: Exception) -> str:
    """The service's explanation as a sentence that names the account."""
    text = str(exc)
    text = text if text.startswith(str(account)) else f"{account}: {text}"
    return text if text.endswith((".", "!", "?")) else f"{text}."


@admin.register(InstagramAccount)
class InstagramAccountAdmin(ModelAdmin):
    form = InstagramAccountForm
    list_display: tuple[str, ...] = ("account", "workspace", "state_badge", "state_changed_at", "token_expires_at")
    list_select_related = ("workspace",)
    list_filter: tuple[Any, ...] = (("state", ChoicesDropdownFilter), ("workspace", AutocompleteFilter))
    list_filter_submit = True
    search_fields = ("username", "ig_user_id")
    ordering = ("username", "id")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("username", "name", "ig_user_id", "workspace", "time_zone")}),
        (
            "Lifecycle",
            {
                "fields": (
                    "state_label",
                    "state_reason",
                    "resume_state",
                    "state_before_suspension",
                    "state_before_error",
                    "state_changed_at",
                )
            },
        ),
        (
            "Connection",
            {"fields": ("token_status", "token_expires_at", "token_permissions", "connected_at", "created_at")},
        ),
        ("Activity", {"fields": ("ledger_link", "warmup_link")}),
    )
    # Everything but the time zone comes from Instagram or from the lifecycle services.
    readonly_fields = (
        "username",
        "name",
        "ig_user_id",
        "workspace",
        "state_label",
        "state_reason",
        "resume_state",
        "state_before_suspension",
        "state_before_error",
        "state_changed_at",
        "token_status",
        "token_expires_at",
        "token_permissions",
        "connected_at",
        "created_at",
        "ledger_link",
        "warmup_link",
    )
    inlines = (AccountTransitionInline,)
    actions: tuple[str, ...] = (
        "pause_accounts",
        "resume_accounts",
        "suspend_accounts",
        "approve_accounts",
        "reconnect_accounts",
    )
    actions_detail: tuple[str, ...] = ("pause_one", "resume_one", "suspend_one", "approve_one", "reconnect_one")

    # Accounts are created by Instagram Login, never by hand; deleting one deletes its ledger.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: InstagramAccount | None = None) -> bool:
        return superuser_only(request)

    def delete_model(self, request: HttpRequest, obj: InstagramAccount) -> None:
        # Deleting an account is disconnecting it with its history deleted: the erasure, never a bare cascade.
        account_disconnect_audited(account=obj, actor=_operator(request), delete_history=True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        for account in queryset:
            account_disconnect_audited(account=account, actor=_operator(request), delete_history=True)

    def save_model(
        self, request: HttpRequest, obj: InstagramAccount, form: forms.ModelForm[InstagramAccount], change: bool
    ) -> None:
        # Write only what the form changed (the time zone): a full save could write back a state read
        # before a concurrent lifecycle transition.
        if form.changed_data:
            obj.save(update_fields=form.changed_data)

    # --- columns and fields ---

    @display(description="account", ordering="username")
    def account(self, account: InstagramAccount) -> str:
        return str(account)

    @display(description="state", ordering="state", label=STATE_BADGES)
    def state_badge(self, account: InstagramAccount) -> tuple[str, str]:
        return account.state, account.get_state_display()

    @display(description="state")
    def state_label(self, account: InstagramAccount) -> SafeString:
        return display_for_label((account.state, account.get_state_display()), "-", STATE_BADGES)

    @display(description="access token")
    def token_status(self, account: InstagramAccount) -> str:
        # Only whether a token is stored: the ciphertext itself is never shown.
        return "stored (encrypted)" if account.access_token_encrypted else "none"

    @display(description="action ledger")
    def ledger_link(self, account: InstagramAccount) -> SafeString | str:
        if account.pk is None:
            return "-"
        url = reverse(f"{self.admin_site.name}:actions_action_changelist")
        return format_html(
            '<a class="text-primary-600" href="{}?account__id__exact={}">Actions of {}</a>', url, account.pk, account
        )

    @display(description="warm-up")
    def warmup_link(self, account: InstagramAccount) -> SafeString | str:
        plan_id = getattr(getattr(account, "warmup_plan", None), "pk", None)
        if plan_id is None:
            return "no warm-up recorded"
        url = reverse(f"{self.admin_site.name}:warmup_warmupplan_change", args=[plan_id])
        return format_html('<a class="text-primary-600" href="{}">Warm-up: extend, restart, skip</a>', url)

    # --- running lifecycle operations ---

    def _run(
        self, request: HttpRequest, accounts: Iterable[InstagramAccount], *, done: str, operation: Operation
    ) -> None:
        """Run ``operation`` on each account on its own; report what was done and what was refused."""
        operator = _operator(request)
        succeeded: list[str] = []
        refused: list[str] = []
        failed: list[str] = []
        for account in accounts:
            try:
                with workspace_scope(account.workspace_id):
                    operation(account.pk, operator)
            except ForbiddenTransition as exc:
                refused.append(_why(account, exc))
            except ConnectionFailed as exc:
                failed.append(_why(account, exc))
            else:
                succeeded.append(str(account))
        if succeeded:
            messages.success(request, f"{len(succeeded)} {done}: {_names(succeeded)}.")
        if refused:
            messages.warning(request, f"{len(refused)} refused: " + " ".join(refused))
        if failed:
            messages.error(request, f"{len(failed)} failed: " + " ".join(failed))

    def _selected(self, queryset: QuerySet[InstagramAccount]) -> list[InstagramAccount]:
        return list(queryset.select_related("workspace").order_by("username", "pk"))

    # --- bulk actions (the changelist's action menu) ---

    @admin.action(description="Pause selected accounts", permissions=["change"])
    def pause_accounts(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        self._run(
            request,
            self._selected(queryset),
            done="paused",
            operation=lambda account_id, actor: account_pause(account_id=account_id, actor=actor, by_operator=True),
        )

    @admin.action(description="Resume selected paused accounts", permissions=["change"])
    def resume_accounts(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        self._run(
            request,
            self._selected(queryset),
            done="resumed",
            operation=lambda account_id, actor: account_resume(account_id=account_id, actor=actor),
        )

    @admin.action(description="Suspend selected accounts for review…", permissions=["change"])
    def suspend_accounts(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> HttpResponse | None:
        """Asks for the reason on an intermediate page, then suspends."""
        accounts = self._selected(queryset)
        form = SuspensionReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._run(
                request,
                accounts,
                done="suspended for review",
                operation=lambda account_id, actor: account_suspend(
                    account_id=account_id, actor=actor, cause="suspended by an operator", reason=reason
                ),
            )
            return None
        heading = ngettext(
            "Suspend this account for review?", "Suspend these %(count)d accounts for review?", len(accounts)
        ) % {"count": len(accounts)}
        return reason_confirmation(
            self,
            request,
            selected=[(account.pk, account) for account in accounts],
            form=form,
            action_name="suspend_accounts",
            title="Suspend accounts for review",
            heading=heading,
            intro="They stop acting and wait in the review queue until an operator approves them. "
            "Their planned actions are kept.",
            submit="Suspend for review",
            testid="suspend-confirmation",
            variant="danger",
        )

    @admin.action(description="Approve selected accounts after review", permissions=["change"])
    def approve_accounts(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        self._run(
            request,
            self._selected(queryset),
            done="approved",
            operation=lambda account_id, actor: account_approve(account_id=account_id, actor=actor),
        )

    @admin.action(description="Reconnect selected accounts with their stored token", permissions=["change"])
    def reconnect_accounts(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        self._run(
            request,
            self._selected(queryset),
            done="reconnected",
            operation=lambda account_id, actor: account_reconnect_with_stored_token(account_id=account_id, actor=actor),
        )

    # --- buttons on the change page (each opens a dialog and posts) ---

    def get_actions_detail(self, request: HttpRequest, object_id: Any) -> list[Any]:
        """Only the operations the account's current state allows."""
        allowed = super().get_actions_detail(request, object_id)
        account = self.get_object(request, unquote(str(object_id)))
        if account is None:
            return []
        return [item for item in allowed if DETAIL_OPERATIONS.get(item.path, lambda _: True)(account)]

    def _account_or_404(self, request: HttpRequest, object_id: Any) -> InstagramAccount:
        account = self.get_object(request, unquote(str(object_id)))
        if account is None:
            raise Http404("No such account.")
        return account

    def _back(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        """To the change page, or to the list when the account left this admin's queryset (e.g. the review queue)."""
        opts = self.model._meta
        prefix = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}"
        if self.get_queryset(request).filter(pk=unquote(str(object_id))).exists():
            url = reverse(f"{prefix}_change", args=[object_id])
        else:
            url = reverse(f"{prefix}_changelist")
        return admin_redirect(request, url)

    def _run_one(self, request: HttpRequest, object_id: Any, *, done: str, operation: Operation) -> HttpResponse:
        self._run(request, [self._account_or_404(request, object_id)], done=done, operation=operation)
        return self._back(request, object_id)

    @action(
        description="Pause",
        url_path="pause",
        icon="pause_circle",
        permissions=["change"],
        dialog={
            "title": "Pause this account",
            "description": "It stops acting; its planned actions are kept and wait until it is resumed.",
            "form_class": TransitionNoteForm,
            "form_submit_text": "Pause",
        },
    )
    def pause_one(self, request: HttpRequest, form: TransitionNoteForm, object_id: str) -> HttpResponse:
        reason = form.cleaned_data["reason"]
        return self._run_one(
            request,
            object_id,
            done="paused",
            operation=lambda account_id, actor: account_pause(
                account_id=account_id, actor=actor, reason=reason, by_operator=True
            ),
        )

    @action(
        description="Resume",
        url_path="resume",
        icon="play_circle",
        permissions=["change"],
        dialog={
            "title": "Resume this account",
            "description": "It resumes where it was: its warm-up day, or active.",
            "form_class": TransitionNoteForm,
            "form_submit_text": "Resume",
        },
    )
    def resume_one(self, request: HttpRequest, form: TransitionNoteForm, object_id: str) -> HttpResponse:
        reason = form.cleaned_data["reason"]
        return self._run_one(
            request,
            object_id,
            done="resumed",
            operation=lambda account_id, actor: account_resume(account_id=account_id, actor=actor, reason=reason),
        )

    @action(
        description="Suspend for review",
        url_path="suspend",
        icon="gpp_maybe",
        permissions=["change"],
        dialog={
            "title": "Suspend this account for review",
            "description": "It stops acting and waits in the review queue until an operator approves it.",
            "form_class": SuspensionReasonDialogForm,
            "form_submit_text": "Suspend",
        },
    )
    def suspend_one(self, request: HttpRequest, form: SuspensionReasonDialogForm, object_id: str) -> HttpResponse:
        reason = form.cleaned_data["reason"]
        return self._run_one(
            request,
            object_id,
            done="suspended for review",
            operation=lambda account_id, actor: account_suspend(
                account_id=account_id, actor=actor, cause="suspended by an operator", reason=reason
            ),
        )

    @action(
        description="Approve after review",
        url_path="approve",
        icon="verified_user",
        permissions=["change"],
        dialog={
            "title": "Approve this account",
            "description": "It leaves the review queue and returns to the state it held before its suspension: "
            "paused stays paused; a warm-up resumes on its day.",
            "form_class": TransitionNoteForm,
            "form_submit_text": "Approve",
        },
    )
    def approve_one(self, request: HttpRequest, form: TransitionNoteForm, object_id: str) -> HttpResponse:
        reason = form.cleaned_data["reason"]
        return self._run_one(
            request,
            object_id,
            done="approved",
            operation=lambda account_id, actor: account_approve(account_id=account_id, actor=actor, reason=reason),
        )

    @action(
        description="Reconnect",
        url_path="reconnect",
        icon="sync",
        permissions=["change"],
        dialog={
            "title": "Reconnect with the stored token",
            "description": "Checks the stored token with Instagram; if accepted, the account resumes where it was.",
            "form_class": None,
            "form_submit_text": "Reconnect",
        },
    )
    def reconnect_one(self, request: HttpRequest, form: BaseDialogForm, object_id: str) -> HttpResponse:
        return self._run_one(
            request,
            object_id,
            done="reconnected",
            operation=lambda account_id, actor: account_reconnect_with_stored_token(account_id=account_id, actor=actor),
        )


RECENT_TRANSITIONS = 3


@admin.register(SuspendedAccount)
class SuspendedAccountAdmin(InstagramAccountAdmin):
    """The review queue: suspended accounts, oldest suspension first."""

    list_display = ("account", "workspace", "state_reason", "evidence", "suspended_since", "recent_transitions")
    list_filter = (("workspace", AutocompleteFilter),)
    ordering = ("state_changed_at", "id")
    actions = ("approve_accounts", "pause_accounts")
    actions_detail = ("approve_one", "pause_one")

    def get_queryset(self, request: HttpRequest) -> QuerySet[InstagramAccount]:
        recent = AccountTransition.all_workspaces.select_related("actor").order_by("-at", "-id")[:RECENT_TRANSITIONS]
        return (
            super()
            .get_queryset(request)
            .filter(state=AccountState.SUSPENDED)
            .prefetch_related(Prefetch("transitions", queryset=recent, to_attr="recent"))
            .annotate(**suspension_evidence_annotations())
        )

    @display(description="evidence")
    def evidence(self, account: InstagramAccount) -> SafeString | str:
        """The safety engine's evidence for the suspension: what Instagram answered, to which action, the risk."""
        event_id = getattr(account, "evidence_id", None)
        if event_id is None:
            return "—"
        return format_html(
            '{} <a class="text-primary-600" href="{}">evidence #{}</a>',
            getattr(account, "evidence_detail", ""),
            reverse("admin:safety_safetyevent_change", args=[event_id]),
            event_id,
        )

    @display(description="suspended since", ordering="state_changed_at")
    def suspended_since(self, account: InstagramAccount) -> str:
        return f"{timesince(account.state_changed_at)} ago"

    @display(description="last transitions")
    def recent_transitions(self, account: InstagramAccount) -> SafeString:
        transitions: list[AccountTransition] = getattr(account, "recent", [])
        return format_html_join(
            "",
            '<div class="whitespace-nowrap">{} → {} <span class="text-base-500">· {} · {} ago</span></div>',
            (
                (
                    transition.from_state,
                    transition.to_state,
                    transition.actor or transition.cause,
                    timesince(transition.at),
                )
                for transition in transitions
            ),
        )
