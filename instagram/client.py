"""The only code that speaks HTTP to Meta's Instagram Platform API.

Instagram API with Instagram Login: OAuth on www.instagram.com and
api.instagram.com, everything else on graph.instagram.com under a versioned
path. All three base URLs come from settings, so the local sandbox can stand in
for Meta in the demo, the tests and the benchmarks.

Writes (replies, messages) are never retried here: a timeout after sending
raises ``OutcomeUnknownError`` and the executor reconciles. Reads are retried
on transient errors with bounded, jittered backoff.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from django.conf import settings
from urllib3.exceptions import NewConnectionError

from instagram.errors import GraphAPIError, NotSentError, OutcomeUnknownError, TransientError, error_from_response

logger = logging.getLogger(__name__)

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        _local.session = session
    return session


@dataclass(frozen=True)
class ShortLivedToken:
    access_token: str
    user_id: str
    permissions: list[str]


@dataclass(frozen=True)
class LongLivedToken:
    access_token: str
    expires_in: int


@dataclass
class GraphResponse:
    data: dict[str, Any]
    status: int
    usage: dict[str, Any] = field(default_factory=dict)


def parse_usage_headers(headers: Any) -> dict[str, Any]:
    """X-App-Usage and X-Business-Use-Case-Usage, decoded (missing ones omitted)."""
    usage: dict[str, Any] = {}
    for header, key in (("X-App-Usage", "app"), ("X-Business-Use-Case-Usage", "business_use_case")):
        raw = headers.get(header)
        if not raw:
            continue
        try:
            usage[key] = json.loads(raw)
        except ValueError:
            logger.warning("Unparseable %s header: %r", header, raw[:200])
    return usage


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection could not be opened, so no byte of the request left."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def authorize_url(*, redirect_uri: str, state: str) -> str:
    """The Instagram Login consent page the person is sent to."""
    query = urlencode(
        {
            "client_id": settings.INSTAGRAM_APP_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(settings.INSTAGRAM_OAUTH_SCOPES),
            "state": state,
        }
    )
    return f"{settings.INSTAGRAM_OAUTH_AUTHORIZE_URL}?{query}"


class InstagramClient:
    """A small Graph API client. One instance per access token."""

    def __init__(self, *, access_token: str = "", max_retries: int = 2) -> None:
        self.access_token = access_token
        self.max_retries = max_retries
        self.last_usage: dict[str, Any] = {}

    # --- plumbing -------------------------------------------------------
    def _graph_url(self, path: str) -> str:
        return f"{settings.INSTAGRAM_GRAPH_URL}/{settings.INSTAGRAM_API_VERSION}/{path.lstrip('/')}"

    def _send(
        self, method: str, url: str, *, params: dict[str, Any] | None, data: dict[str, Any] | None, is_write: bool
    ) -> GraphResponse:
        try:
            response = _session().request(
                method, url, params=params, data=data, timeout=settings.INSTAGRAM_HTTP_TIMEOUT
            )
        except requests.exceptions.ConnectTimeout as exc:
            raise NotSentError(f"Could not connect within {settings.INSTAGRAM_HTTP_TIMEOUT}s: {exc}") from exc
        except requests.Timeout as exc:
            if is_write:
                raise OutcomeUnknownError(f"No answer within {settings.INSTAGRAM_HTTP_TIMEOUT}s: {exc}") from exc
            raise TransientError(f"Timed out: {exc}") from exc
        except requests.ConnectionError as exc:
            if _never_sent(exc):
                raise NotSentError(f"Could not connect: {exc}") from exc
            if is_write:
                raise OutcomeUnknownError(f"The connection broke after sending: {exc}") from exc
            raise TransientError(f"Connection failed: {exc}") from exc
        usage = parse_usage_headers(response.headers)
        self.last_usage = usage
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, dict) and "error" in body):
            raise error_from_response(response.status_code, body)
        if not isinstance(body, dict):
            raise TransientError(
                f"HTTP {response.status_code} with a body that is not a JSON object", status=response.status_code
            )
        return GraphResponse(data=body, status=response.status_code, usage=usage)

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        is_write: bool = False,
    ) -> GraphResponse:
        attempt = 0
        while True:
            try:
                return self._send(method, url, params=params, data=data, is_write=is_write)
            except OutcomeUnknownError:
                raise
            except TransientError as exc:
                if (is_write and not isinstance(exc, NotSentError)) or attempt >= self.max_retries:
                    raise
                attempt += 1
                # Full jitter: 0..(0.25 * 2^attempt) seconds.
                time.sleep(random.uniform(0, 0.25 * (2**attempt)))

    def _params(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        params = dict(extra or {})
        params["access_token"] = self.access_token
        return params

    # --- OAuth (Instagram Login) -----------------------------------------
    def exchange_code(self, *, code: str, redirect_uri: str) -> ShortLivedToken:
        """Authorization code → short-lived user token (valid one hour)."""
        response = self._call(
            "POST",
            settings.INSTAGRAM_OAUTH_TOKEN_URL,
            data={
                "client_id": settings.INSTAGRAM_APP_ID,
                "client_secret": settings.INSTAGRAM_APP_SECRET,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
            is_write=True,  # a code can be used once: never retry blindly
        )
        body = response.data
        # Current docs wrap the token in "data": [...]; older pages show it flat.
        entry = body["data"][0] if isinstance(body.get("data"), list) and body["data"] else body
        if "access_token" not in entry:
            raise GraphAPIError("The token exchange answered without an access_token.")
        permissions = entry.get("permissions", [])
        if isinstance(permissions, str):
            permissions = [p for p in permissions.split(",") if p]
        return ShortLivedToken(
            access_token=entry["access_token"], user_id=str(entry.get("user_id", "")), permissions=permissions
        )

    def exchange_long_lived(self, *, short_lived_token: str) -> LongLivedToken:
        """Short-lived token → long-lived token (about 60 days)."""
        response = self._call(
            "GET",
            f"{settings.INSTAGRAM_GRAPH_URL}/access_token",
            params={
                "grant_type": "ig_exchange_token",
                "client_secret": settings.INSTAGRAM_APP_SECRET,
                "access_token": short_lived_token,
            },
        )
        return LongLivedToken(
            access_token=response.data["access_token"], expires_in=int(response.data.get("expires_in", 0))
        )

    # --- Graph API ------------------------------------------------------
    def me(self, *, fields: str = "user_id,username,name,account_type") -> dict[str, Any]:
        body = self._call("GET", self._graph_url("me"), params=self._params({"fields": fields})).data
        # The reference page shows the profile wrapped in "data": [...]; accept both.
        if isinstance(body.get("data"), list) and body["data"]:
            return dict(body["data"][0])
        return body

    def comment_reply(self, *, comment_id: str, message: str) -> dict[str, Any]:
        """POST /{comment-id}/replies — a public reply. Returns {"id": ...}."""
        return self._call(
            "POST",
            self._graph_url(f"{comment_id}/replies"),
            params=self._params(),
            data={"message": message},
            is_write=True,
        ).data

    def comment_replies(self, *, comment_id: str) -> list[dict[str, Any]]:
        """GET /{comment-id}/replies — used to reconcile an unknown outcome."""
        data = self._call(
            "GET", self._graph_url(f"{comment_id}/replies"), params=self._params({"fields": "id,text,from,timestamp"})
        ).data
        return list(data.get("data", []))
