from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import figures, selectors
from accounts.decorators import workspace_required
from accounts.forms import WorkspaceForm
from accounts.middleware import SESSION_KEY, WorkspaceRequest
from accounts.models import InstagramAccount, Membership
from accounts.services import (
    ConnectionFailed,
    ForbiddenTransition,
    InvitationError,
    account_connect_complete,
    account_pause,
    account_resume,
    invitation_accept,
    workspace_create,
)
from engagement.selectors import comments_recent, rules_of_account
from instagram.client import authorize_url

OAUTH_STATE_KEY = "instagram_oauth_state"


@workspace_required
def dashboard(request: WorkspaceRequest) -> HttpResponse:
    return render(
        request,
        "accounts/dashboard.html",
        {"accounts": selectors.accounts_list(), "recent_comments": comments_recent(limit=10)},
    )


@login_required
def workspace_create_view(request: WorkspaceRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        workspace = workspace_create(name=form.cleaned_data["name"], owner=request.user)
        request.session[SESSION_KEY] = workspace.pk
        messages.success(request, f"Workspace “{workspace}” created. Connect an Instagram account to begin.")
        return redirect("dashboard")
    return render(request, "accounts/workspace_create.html", {"form": form, "first": request.membership is None})


@login_required
@require_POST
def workspace_switch(request: WorkspaceRequest) -> HttpResponse:
    workspace_id = request.POST.get("workspace_id", "")
    membership = None
    # isdecimal, not isdigit: "²" is a digit int() refuses. Past 18 digits no row has the id (a 64-bit
    # integer), SQLite would overflow, and int() refuses past 4,300 digits.
    if workspace_id.isdecimal() and len(workspace_id) <= 18:
        membership = Membership.all_workspaces.filter(user=request.user, workspace_id=int(workspace_id)).first()
    if membership is None:
        raise Http404("No such workspace.")
    request.session[SESSION_KEY] = membership.workspace_id
    messages.info(request, f"Switched to {membership.workspace}.")
    return redirect("dashboard")


@login_required
def invitation_accept_view(request: WorkspaceRequest, token: str) -> HttpResponse:
    """The invitation: which workspace, who invited, as what; accepting joins it.

    A revoked, replaced, used or expired link says so at once, before anyone presses "Accept".
    """
    if request.method == "POST":
        try:
            membership = invitation_accept(token=token, user=request.user)
        except InvitationError as exc:
            return render(request, "accounts/invitation.html", {"error": str(exc)}, status=400)
        request.session[SESSION_KEY] = membership.workspace_id
        messages.success(request, f"Welcome to {membership.workspace}.")
        return redirect("dashboard")
    invitation = selectors.invitation_by_token(token=token)
    error = selectors.invitation_refusal(invitation=invitation, user=request.user)
    return render(
        request,
        "accounts/invitation.html",
        {"token": token, "invitation": invitation, "error": error},
        status=400 if error else 200,
    )


@workspace_required
def instagram_connect(request: WorkspaceRequest) -> HttpResponse:
    """Send the member to Instagram Login's consent page, with a one-time state."""
    state = secrets.token_urlsafe(24)
    request.session[OAUTH_STATE_KEY] = {"state": state, "workspace_id": request.workspace.pk}
    return redirect(authorize_url(redirect_uri=_callback_url(request), state=state))


def _callback_url(request: WorkspaceRequest) -> str:
    return request.build_absolute_uri(reverse("instagram_callback"))


@workspace_required
def instagram_callback(request: WorkspaceRequest) -> HttpResponse:
    expected = request.session.pop(OAUTH_STATE_KEY, None)
    state = request.GET.get("state", "")
    if (
        not expected
        or not secrets.compare_digest(str(expected.get("state")), state)
        or expected.get("workspace_id") != request.workspace.pk
    ):
        messages.error(
            request, "The connection could not be verified (the link was old or reused). Please connect again."
        )
        return redirect("dashboard")
    if request.GET.get("error"):
        description = request.GET.get("error_description") or request.GET.get("error")
        messages.warning(request, f"Instagram did not connect: {description}.")
        return redirect("dashboard")
    code = request.GET.get("code", "").removesuffix("#_")
    if not code:
        messages.error(request, "Instagram sent no authorisation code. Please connect again.")
        return redirect("dashboard")
    try:
        account = account_connect_complete(
            workspace=request.workspace,
            code=code,
            redirect_uri=_callback_url(request),
            actor=request.user,
        )
    except ConnectionFailed as exc:
        messages.error(request, str(exc))
        return redirect("dashboard")
    messages.success(request, f"Connected {account}. It starts its 7-day warm-up: {account.get_state_display()}.")
    return redirect("account_detail", account_id=account.pk)


@workspace_required
def account_detail(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    return render(
        request,
        "accounts/account_detail.html",
        {
            "account": account,
            "rules": rules_of_account(account=account),
            "comments": comments_recent(account=account, limit=20),
            "transitions": selectors.account_transitions(account=account),
            "follower_page": _sandbox_page(account),
        },
    )


@workspace_required
def account_figures(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    try:
        days = int(request.GET.get("days", figures.DEFAULT_RANGE))
    except ValueError:
        days = figures.DEFAULT_RANGE
    if days not in figures.RANGES:
        days = figures.DEFAULT_RANGE
    shown = figures.account_figures(account=account, days=days)
    return render(
        request,
        "accounts/account_figures.html",
        {
            "account": account,
            "figures": shown,
            "chart_data": shown.chart_data(),
            "ranges": figures.RANGES,
            "outcomes": figures.OUTCOMES,
        },
    )


def _sandbox_page(account: InstagramAccount) -> str:
    """In the demo (Graph API = the sandbox), where a person can comment as a follower."""
    if settings.INSTAGRAM_GRAPH_URL != settings.SANDBOX_URL or not account.username:
        return ""
    return f"{settings.SANDBOX_URL}/u/{account.username}/"


def _lifecycle_post(request: WorkspaceRequest, account_id: int, *, pause: bool) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    service = account_pause if pause else account_resume
    try:
        account = service(account_id=account.pk, actor=request.user, reason=request.POST.get("reason", "")[:500])
    except ForbiddenTransition as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{account} is now {account.get_state_display().lower()}.")
    return redirect("account_detail", account_id=account.pk)


@workspace_required
@require_POST
def account_pause_view(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    return _lifecycle_post(request, account_id, pause=True)


@workspace_required
@require_POST
def account_resume_view(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    return _lifecycle_post(request, account_id, pause=False)
