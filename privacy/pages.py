"""The owners' pages that end things: disconnect an Instagram account, delete a workspace.

Both are for the workspace's owners only (admins manage, owners decide what the workspace keeps), both ask
for the name typed out before anything is deleted, and both go through ``privacy.audit``, which calls the
erasure and writes the audit entry that says who chose what (docs/features/data-lifecycle.md).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.decorators import workspace_required
from accounts.middleware import SESSION_KEY, WorkspaceRequest, memberships_of
from accounts.models import InstagramAccount, Role
from privacy import selectors
from privacy.audit import account_disconnect_audited, counts_in_words, workspace_erase_audited

KEEP = "keep"
DELETE = "delete"


def owner_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Owners of the workspace only: admins and members are refused (403) before anything is read."""

    @workspace_required
    @wraps(view)
    def wrapped(request: WorkspaceRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.membership.role != Role.OWNER:
            raise PermissionDenied("Only owners of the workspace can do this.")
        return view(request, *args, **kwargs)

    return wrapped


def _typed(value: str) -> str:
    """A typed confirmation as compared: surrounding spaces and a leading @ dropped."""
    return value.strip().removeprefix("@")


class AccountDisconnectForm(forms.Form):
    history = forms.ChoiceField(
        choices=[(KEEP, "Keep its history"), (DELETE, "Delete its history")], initial=KEEP, widget=forms.RadioSelect
    )
    confirm_username = forms.CharField(required=False, max_length=150)

    def __init__(self, *args: Any, account: InstagramAccount, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    @property
    def expected_name(self) -> str:
        """What the owner types to delete the history: the username (the Instagram id when there is none)."""
        return self.account.username or self.account.ig_user_id or str(self.account.pk)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        typed = _typed(cleaned.get("confirm_username", ""))
        # Instagram usernames are case-insensitive; the typing is a check of intent, not a password.
        if cleaned.get("history") == DELETE and typed.lower() != self.expected_name.lower():
            self.add_error(
                "confirm_username", f"Type {self.expected_name} exactly to delete its history. Nothing was deleted."
            )
        return cleaned

    @property
    def delete_history(self) -> bool:
        return self.cleaned_data["history"] == DELETE


class WorkspaceDeleteForm(forms.Form):
    confirm_name = forms.CharField(max_length=200)

    def __init__(self, *args: Any, workspace_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workspace_name = workspace_name

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        # Exact: a workspace name is free text, and deleting one is the most destructive thing a page does.
        if typed != self.workspace_name.strip():
            raise forms.ValidationError(
                f"Type the workspace's name exactly ({self.workspace_name}) to delete it. Nothing was deleted."
            )
        return typed


@owner_required
def account_disconnect_view(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    form = AccountDisconnectForm(request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        # Deleting the history runs here, inside the request, in the erasure's batches: fine for the
        # accounts InstaForge holds today (thousands of rows, seconds). An account with millions of rows
        # would want the deletion task the data deletion callback uses instead, and a page that shows its
        # progress (not done: the callback's status page is the model for it).
        name = str(account)
        report = account_disconnect_audited(account=account, actor=request.user, delete_history=form.delete_history)
        deleted = counts_in_words(report.counts)
        if form.delete_history:
            messages.success(request, f"{name} is disconnected and its history deleted: {deleted or 'nothing held'}.")
            return redirect("dashboard")
        messages.success(
            request,
            f"{name} is disconnected; its history is kept"
            + (f" ({deleted})" if deleted else "")
            + ". Remove InstaForge in the account's Instagram settings too (Security, Apps and websites).",
        )
        return redirect("account_detail", account_id=account.pk)
    if request.method == "POST":
        messages.error(request, "Nothing was changed: see below.")
    return render(
        request,
        "privacy/account_disconnect.html",
        {
            "account": account,
            "form": form,
            "expected_name": form.expected_name,
            "holdings": selectors.account_holdings_count(account=account),
            "already_disconnected": not account.access_token_encrypted,
        },
    )


@owner_required
def workspace_delete_view(request: WorkspaceRequest) -> HttpResponse:
    workspace = request.workspace
    form = WorkspaceDeleteForm(request.POST or None, workspace_name=workspace.name)
    if request.method == "POST" and form.is_valid():
        name = workspace.name
        # Inline, like an account's history (see account_disconnect_view): every account's history in batches.
        report = workspace_erase_audited(workspace=workspace, actor=request.user)
        deleted = counts_in_words(report.counts) or "nothing else held"
        remaining = memberships_of(request.user)
        if remaining:
            request.session[SESSION_KEY] = remaining[0].workspace_id
            messages.success(
                request,
                f"Workspace “{name}” is deleted with everything in it ({deleted}). "
                f"You are now in {remaining[0].workspace}.",
            )
            return redirect("dashboard")
        request.session.pop(SESSION_KEY, None)
        messages.success(request, f"Workspace “{name}” is deleted with everything in it ({deleted}).")
        return redirect("workspace_create")
    if request.method == "POST":
        messages.error(request, "Nothing was deleted: see below.")
    return render(
        request,
        "privacy/workspace_delete.html",
        {"form": form, "holdings": selectors.workspace_holdings_count()},
    )
