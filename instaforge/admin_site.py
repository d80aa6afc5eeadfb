"""The operators' admin site: one login for everyone, and a second factor for staff.

The admin has no login form of its own. ``/admin/login/`` sends people to the members' login
(django-allauth), so the admin inherits its rate limits (failed attempts per address and per
account, shared by every process through the cache) and its MFA stage (a user with an
authenticator enters a code after the password). ``has_permission`` then asks, on every admin
page, for:

- an active staff user (Django's own rule);
- a second factor used in this very session whenever the user has one: a session opened with
  the password alone (by any path) does not pass, the user is sent to enter a code;
- an authenticator at all when ``ADMIN_REQUIRE_MFA`` is on (by default whenever ``DEBUG`` is
  off, read at request time): staff without one are sent to set one up.
"""

from __future__ import annotations

import enum
from typing import Any

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from unfold.sites import UnfoldAdminSite

# Authenticators that are a second factor on their own (recovery codes only stand in for one).
SECOND_FACTOR_TYPES = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
# allauth's record of a second factor used in the session (login's MFA stage or reauthentication).
MFA_METHOD = "mfa"
_GATE_ATTRIBUTE = "_instaforge_admin_gate"


class AdminGate(enum.Enum):
    OPEN = "open"
    NOT_STAFF = "not staff"
    NEEDS_AUTHENTICATOR = "needs an authenticator"
    NEEDS_CODE = "needs a code in this session"


def admin_mfa_required() -> bool:
    """ADMIN_REQUIRE_MFA when set, else on whenever DEBUG is off (read now, not at start)."""
    required = getattr(settings, "ADMIN_REQUIRE_MFA", None)
    return (not settings.DEBUG) if required is None else bool(required)


def admin_gate(request: HttpRequest) -> AdminGate:
    """Whether the request's user may enter the admin, and if not, what is missing.

    Worked out once per request (each admin page asks several times).
    """
    cached: AdminGate | None = getattr(request, _GATE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    user = request.user
    if not (user.is_active and user.is_staff):
        gate = AdminGate.NOT_STAFF
    elif not is_mfa_enabled(user, SECOND_FACTOR_TYPES):
        gate = AdminGate.NEEDS_AUTHENTICATOR if admin_mfa_required() else AdminGate.OPEN
    elif not any(record.get("method") == MFA_METHOD for record in get_authentication_records(request, user)):
        gate = AdminGate.NEEDS_CODE
    else:
        gate = AdminGate.OPEN
    setattr(request, _GATE_ATTRIBUTE, gate)
    return gate


class InstaForgeAdminSite(UnfoldAdminSite):
    """Unfold's admin site, entered only through the members' login and, for staff, a second factor."""

    def has_permission(self, request: HttpRequest) -> bool:
        return admin_gate(request) is AdminGate.OPEN

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """No credentials are taken here (GET or POST): the members' login, or the missing factor, then back."""
        next_url = request.GET.get(REDIRECT_FIELD_NAME, "")
        if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
            next_url = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return _redirect("account_login", next_url)
        gate = admin_gate(request)
        if gate is AdminGate.OPEN:
            return HttpResponseRedirect(next_url)
        if gate is AdminGate.NOT_STAFF:
            raise PermissionDenied("This account cannot open the operators' admin.")
        if gate is AdminGate.NEEDS_AUTHENTICATOR:
            messages.warning(
                request,
                "The operators' admin needs two-factor authentication: set up an authenticator app here, "
                "then open the admin again.",
            )
            return _redirect("mfa_activate_totp", next_url)
        messages.info(request, "Enter a code from your authenticator app to open the operators' admin.")
        return _redirect("mfa_reauthenticate", next_url)

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """The members' password change (rate-limited, notifies by email) is the only one."""
        return HttpResponseRedirect(reverse("account_change_password"))


def _redirect(url_name: str, next_url: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse(url_name)}?{urlencode({REDIRECT_FIELD_NAME: next_url})}")
