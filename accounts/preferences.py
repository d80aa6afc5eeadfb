"""Time-zone settings: the member's own zone (``/me/``) and an Instagram account's zone (its page's card).

Both write through a service (``accounts.services.user_time_zone_set``,
``warmup.services.account_time_zone_set``) after the form checked the name against the tz database.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.decorators import manager_required
from accounts.forms import TimeZoneForm
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from accounts.services import user_time_zone_set
from warmup.services import TimeZoneRefused, account_time_zone_set


@login_required
def me(request: WorkspaceRequest) -> HttpResponse:
    """The member's preferences: the zone every page shows times in (empty: UTC)."""
    user = request.user
    if request.method == "POST":
        form = TimeZoneForm(request.POST, allow_empty=True)
        if form.is_valid():
            user_time_zone_set(user=user, time_zone=form.cleaned_data["time_zone"])
            shown = user.time_zone or "UTC"
            messages.success(request, f"Times are now shown in {shown}.")
            return redirect("me")
    else:
        form = TimeZoneForm(initial={"time_zone": user.time_zone}, allow_empty=True)
    form.fields[
        "time_zone"
    ].help_text = "Every time on every page is shown in this zone, with its name. Leave empty for UTC."
    return render(
        request,
        "accounts/me.html",
        {"form": form, "now": timezone.now()},
    )


@manager_required
@require_POST
def account_time_zone(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Owners and admins set an account's zone: its warm-up days, warm-up hours and active hours follow it."""
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    form = TimeZoneForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(error) for error in form.errors.get("time_zone", [])))
        return redirect("account_detail", account_id=account.pk)
    before = account.time_zone
    try:
        account = account_time_zone_set(
            account_id=account.pk, time_zone=form.cleaned_data["time_zone"], actor=request.user
        )
    except TimeZoneRefused as exc:
        messages.error(request, str(exc))
    else:
        if before == account.time_zone:
            messages.info(request, f"{account} already uses {account.time_zone}.")
        else:
            messages.success(
                request,
                f"{account} now uses {account.time_zone}: its warm-up days and hours and its active hours follow "
                f"that zone from now on.",
            )
    return redirect("account_detail", account_id=account.pk)
