from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def workspace_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Logged in, with a workspace in scope (else: create your first workspace)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "membership", None) is None:
            return redirect("workspace_create")
        return view(request, *args, **kwargs)

    return wrapped


def manager_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Owners and admins of the workspace only."""

    @workspace_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.membership.can_manage:  # type: ignore[attr-defined]
            raise PermissionDenied("Only owners and admins of the workspace can do this.")
        return view(request, *args, **kwargs)

    return wrapped
