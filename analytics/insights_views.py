"""The insights part of an account's analytics page: a member's "Refresh now"."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from accounts.templatetags.when import when_plain
from analytics.insights import MANUAL_REFRESH_EVERY, insights_refresh_request


@require_POST
@workspace_required
def insights_refresh_now(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """Ask for a reading of the account's insights now; at most one every ``MANUAL_REFRESH_EVERY`` per account."""
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    again_at = insights_refresh_request(account=account)
    if again_at is None:
        messages.success(
            request,
            "Reading Meta's insights now: the figures appear here in a minute or two, "
            "unless Instagram's limits ask the account to wait.",
        )
    else:
        minutes = max(1, int(MANUAL_REFRESH_EVERY.total_seconds() // 60))
        messages.info(
            request, f"Insights were asked for less than {minutes} minutes ago; try again from {when_plain(again_at)}."
        )
    return redirect("account_analytics", account_id=account.pk)
