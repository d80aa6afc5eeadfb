"""The member's warm-up page: the 7-day timeline of an account, today's budget, the next advance, holds and why.

The account comes from the scoped manager, so another workspace's account is a 404.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from warmup.selectors import warmup_progress


@workspace_required
def account_warmup(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    return render(request, "warmup/warmup.html", {"account": account, "progress": warmup_progress(account=account)})
