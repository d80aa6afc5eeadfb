from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from accounts.middleware import memberships_of
from accounts.models import AccountState, InstagramAccount


def workspace(request: HttpRequest) -> dict[str, Any]:
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    if membership is None or user is None or not user.is_authenticated:
        return {"current_membership": None, "current_workspace": None, "my_memberships": [], "accounts_in_error": []}
    return {
        "current_membership": membership,
        "current_workspace": membership.workspace,
        "my_memberships": memberships_of(user),
        # Accounts Instagram no longer accepts: a banner on every page until they are reconnected.
        "accounts_in_error": list(InstagramAccount.objects.filter(state=AccountState.ERROR).order_by("username")),
    }
