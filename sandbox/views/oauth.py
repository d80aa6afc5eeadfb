"""The Business Login consent page (www.instagram.com/oauth/authorize).

https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/business-login
(see instagram/tests/fixtures/meta/oauth_authorize_redirect.json): on "Allow" the
browser goes to ``redirect_uri?code=…&state=…#_``; on "Cancel" to
``redirect_uri?error=access_denied&error_reason=user_denied&error_description=…``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox import selectors, services
from sandbox.models import SandboxAccount
from sandbox.views.pages import page

APP_NAME = "InstaForge"
# What the consent screen says for each permission of Business Login for Instagram.
SCOPE_DESCRIPTIONS = {
    "instagram_business_basic": "Access your profile info and posts",
    "instagram_business_manage_comments": "Read, reply to and manage comments on your posts",
    "instagram_business_manage_messages": "Read and send messages in your inbox",
    "instagram_business_content_publish": "Publish posts, reels and stories for you",
    "instagram_business_manage_insights": "Read insights about your account and posts",
}


class AuthorizeRequestError(Exception):
    """The authorize URL itself is wrong: Meta shows an error page instead of the consent screen."""


@dataclass(frozen=True)
class AuthorizeRequest:
    redirect_uri: str
    scopes: list[str]
    state: str

    def redirect(self, params: dict[str, str], *, fragment: str = "") -> HttpResponseRedirect:
        """Back to the app with ``params`` (and ``state`` when the app sent one) added to the redirect URI."""
        if self.state:
            params = {**params, "state": self.state}
        parts = urlsplit(self.redirect_uri)
        query = "&".join(part for part in (parts.query, urlencode(params)) if part)
        return HttpResponseRedirect(urlunsplit(parts._replace(query=query, fragment=fragment)))


def _authorize_request(query: QueryDict) -> AuthorizeRequest:
    if query.get("client_id") != settings.INSTAGRAM_APP_ID:
        raise AuthorizeRequestError("Invalid platform app")
    if query.get("response_type") != "code":
        raise AuthorizeRequestError("response_type must be code")
    redirect_uri = query.get("redirect_uri", "")
    if urlsplit(redirect_uri).scheme not in {"http", "https"}:
        raise AuthorizeRequestError("Invalid redirect_uri")
    # "comma-separated or URL-encoded space-separated" (Business Login page).
    scopes = [scope for scope in query.get("scope", "").replace(" ", ",").split(",") if scope]
    if not scopes:
        raise AuthorizeRequestError("Missing scope")
    unknown = [scope for scope in scopes if scope not in SCOPE_DESCRIPTIONS]
    if unknown:
        raise AuthorizeRequestError(f"Invalid Scopes: {', '.join(unknown)}")
    return AuthorizeRequest(redirect_uri=redirect_uri, scopes=scopes, state=query.get("state", ""))


def _consent_page(authorize: AuthorizeRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    context: dict[str, Any] = {
        "app_name": APP_NAME,
        "app_id": settings.INSTAGRAM_APP_ID,
        "scopes": [(scope, SCOPE_DESCRIPTIONS[scope]) for scope in authorize.scopes],
        "redirect_host": urlsplit(authorize.redirect_uri).netloc,
        "accounts": selectors.accounts_list(),
        "error": error,
    }
    return page("sandbox/authorize.html", context, status=status)


def _chosen_account(request: HttpRequest) -> SandboxAccount | None:
    new_username = request.POST.get("new_username", "").strip()
    if new_username:
        return services.sandbox_account_create(username=new_username)
    return selectors.account_by_username(username=request.POST.get("account", ""))


@csrf_exempt
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """The consent screen (GET) and the person's answer to it (POST to the same URL)."""
    try:
        authorize_request = _authorize_request(request.GET)
    except AuthorizeRequestError as error:
        return page("sandbox/authorize_error.html", {"reason": str(error)}, status=400)
    if request.method == "GET":
        return _consent_page(authorize_request)
    if request.POST.get("decision") != "allow":
        return authorize_request.redirect(
            {
                "error": "access_denied",
                "error_reason": "user_denied",
                "error_description": "The user denied your request",
            }
        )
    try:
        account = _chosen_account(request)
    except ValidationError as error:
        return _consent_page(authorize_request, error=" ".join(error.messages), status=400)
    if account is None:
        return _consent_page(authorize_request, error="Choose an account to continue.", status=400)
    code = services.sandbox_authorize(
        account=account, redirect_uri=authorize_request.redirect_uri, scopes=authorize_request.scopes
    )
    return authorize_request.redirect({"code": code}, fragment="_")
