"""The only code that speaks HTTP to Meta's Instagram Platform API.

Instagram API with Instagram Login: OAuth on www.instagram.com and
api.instagram.com, everything else on graph.instagram.com under a versioned
path. All three base URLs come from settings, so the local sandbox can stand in
for Meta in the demo, the tests and the benchmarks.

Writes (replies, messages, moderation, publishing) are never retried here: a timeout after sending
raises ``OutcomeUnknownError`` and the executor reconciles. Reads are retried
on transient errors with bounded, jittered backoff. A call that never left
(refused, no DNS, no connection in time) raises ``NotSentError``: safe to send again.

No error raised here carries a secret: a network failure becomes a typed error
built from the method, the URL without its query and the failure's class and
OS reason, raised ``from None`` (requests' own texts hold the full URL, token
included); an error answer's text is redacted, and the exact secrets the call
sent are cut from it (``_scrubbed``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from requests.compat import json as requests_json  # type: ignore[attr-defined]  # json or simplejson, as requests uses
from urllib3 import exceptions as urllib3_exceptions
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from instaforge.redaction import REDACTED, secrets_redact, url_redact
from instagram.errors import (
    GraphAPIError,
    NotSentError,
    OutcomeUnknownError,
    RateLimitedError,
    TransientError,
    error_from_response,
    retry_after_seconds,
)
from observability.metrics import GRAPH_RATE_LIMITED, GRAPH_REQUEST_SECONDS, GRAPH_REQUESTS, graph_endpoint

logger = logging.getLogger(__name__)

_local = threading.local()


def _session() -> requests.Session:
    """This thread's session (kept-alive connections).

    It does not read the environment on each call (``trust_env``): requests
    then looks up the proxy variables and ``~/.netrc`` for every request,
    which cost a dispatcher about a sixth of its CPU. The CA bundle variables
    are read here once, the proxies once per host (``_proxies``).
    """
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        _local.session = session
    return session


@functools.lru_cache(maxsize=32)
def _proxies_of(origin: str) -> dict[str, str]:
    """The proxies the environment sets for ``origin`` (``scheme://host``), ``NO_PROXY`` applied, as requests would."""
    return dict(requests.utils.get_environ_proxies(origin))


def _proxies(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return _proxies_of(f"{parts.scheme}://{parts.netloc}")


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
    """X-App-Usage and X-Business-Use-Case-Usage, decoded (missing ones omitted).

    https://developers.facebook.com/docs/graph-api/overview/rate-limiting
    (instagram/tests/fixtures/meta/usage_headers.json). When the business
    header carries ``estimated_time_to_regain_access`` (minutes), the largest
    value is copied to the top level, with ``retry_after_seconds`` next to it.
    """
    usage: dict[str, Any] = {}
    for header, key in (("X-App-Usage", "app"), ("X-Business-Use-Case-Usage", "business_use_case")):
        raw = headers.get(header)
        if not raw:
            continue
        try:
            usage[key] = json.loads(raw)
        except ValueError:
            logger.warning("Unparseable %s header: %r", header, raw[:200])
    seconds = retry_after_seconds(usage)
    if seconds is not None:
        usage["estimated_time_to_regain_access"] = seconds // 60
        usage["retry_after_seconds"] = seconds
    return usage


def _never_sent(exc: BaseException) -> bool:
    """True when no byte of the request can have left: the connection (or the request itself) was never made.

    A refused connection, a failed DNS lookup, a connect timeout, a certificate refused during the TLS
    handshake, a URL that cannot be parsed. Any other TLS error, a reset or a read timeout may come after
    the request was sent.
    """
    if isinstance(exc, (requests.exceptions.ConnectTimeout, *_UNBUILDABLE)):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return _in_chain(exc, (ssl.SSLCertVerificationError, ssl.CertificateError))
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _in_chain(exc: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether an exception of ``types`` is found in ``exc``'s arguments, reasons or chain."""
    return any(isinstance(found, types) for found in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (arguments, ``reason``, cause, context), each once."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen or not isinstance(current, BaseException):
            continue
        seen.add(id(current))
        yield current
        pending.extend([*current.args, getattr(current, "reason", None), current.__cause__, current.__context__])


# Every way requests (or urllib3 under it) can fail to get an answer; socket errors arrive wrapped in these.
_NETWORK_ERRORS = (requests.RequestException, urllib3_exceptions.HTTPError, OSError, ValueError)
# The request could not even be built: nothing left, and sending again will not help until the URL is fixed.
_UNBUILDABLE = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
    urllib3_exceptions.LocationValueError,
    ValueError,  # urlsplit's "Invalid IPv6 URL", an IDNA label too long...
)


def _network_reason(exc: BaseException) -> str:
    """The innermost operating-system reason of a network failure (``[Errno 111] Connection refused``), or ''.

    Only the ``errno`` and ``strerror`` of an ``OSError`` found in the exception's arguments and chain: never
    an exception's own text, which may hold the URL.
    """
    for current in _chain(exc):
        if isinstance(current, OSError) and current.strerror:
            return f"[Errno {current.errno}] {current.strerror}" if current.errno is not None else current.strerror
    return ""


def _network_error(exc: BaseException, *, method: str, url: str, is_write: bool) -> GraphAPIError:
    """The typed error for a call that got no usable answer, its text free of the URL's query and of any secret.

    Not sent (nothing left) → ``NotSentError``; after sending, a write → ``OutcomeUnknownError`` (the
    executor reconciles), a read → ``TransientError`` (retried).
    """
    reason = _network_reason(exc)
    where = f"{method} {url_redact(url)}"
    kind = type(exc).__name__
    detail = secrets_redact(f" ({kind}{': ' + reason if reason else ''})")
    timeout = settings.INSTAGRAM_HTTP_TIMEOUT
    if _never_sent(exc):
        if isinstance(exc, _UNBUILDABLE):
            return NotSentError(f"Instagram unreachable (nothing was sent): {where} could not be built{detail}")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return NotSentError(f"Instagram unreachable (nothing was sent): no connection within {timeout}s to {where}")
        return NotSentError(f"Instagram unreachable (nothing was sent): could not connect to {where}{detail}")
    if isinstance(exc, requests.Timeout):
        if is_write:
            return OutcomeUnknownError(f"No answer within {timeout}s to {where}; it may have been sent")
        return TransientError(f"Timed out: no answer within {timeout}s to {where}")
    if is_write:
        return OutcomeUnknownError(f"The connection broke after sending {where}{detail}; it may have been sent")
    return TransientError(f"Connection failed: {where}{detail}")


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


# The fields InstaForge reads by default. Field names are those of the reference pages cited on each method.
MEDIA_FIELDS = "id,caption,media_type,media_product_type,permalink,timestamp,comments_count,like_count"
COMMENT_FIELDS = "id,text,timestamp,from,parent_id,hidden,like_count"
MESSAGE_FIELDS = "id,created_time,from,to,message"
# https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api/user-profile
USER_PROFILE_FIELDS = "name,username,profile_pic,follower_count,is_user_follow_business,is_business_follow_user"
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen", "react", "unreact"})
# "A maximum of 4 questions can be set via the Ice Breaker API" (the ice breakers page above).
MAX_ICE_BREAKERS = 4
ATTACHMENT_TYPES = frozenset({"image", "video", "audio"})
# Meta's default page size for edges is 25; the client caps what it walks so a runaway list cannot loop forever.
DEFAULT_MAX_ITEMS = 10_000

UsageCallback = Callable[[dict[str, Any]], None]
# Called before each request to one of Meta's APIs with a rate limit of its own, with the API's name.
CallCallback = Callable[[str], None]
# The Conversations API (conversations, a conversation's messages, a message): 2 calls/s per account.
CONVERSATIONS_API = "conversations"

_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _plain(values: dict[str, Any] | None) -> bool:
    return values is None or all(type(value) in (str, int) for value in values.values())


def _prepared(
    method: str, url: str, *, params: dict[str, Any] | None, data: dict[str, Any] | None, json_body: Any
) -> requests.PreparedRequest:
    """The request as ``requests.Request(...).prepare()`` makes it, built directly in the usual case.

    Usual: a URL without a query of its own (``_graph_url``), and parameters and form fields that are
    text or numbers, or a JSON body (the Send API's messages). Then the query and the form body are
    ``urlencode``'s, the JSON body requests' own ``json.dumps`` in UTF-8, exactly what requests
    produces for them, without its URL parsing, re-quoting and header mapping (a tenth of a
    dispatcher's CPU; for a DM, its JSON body through requests was a third of the call's preparing).
    Anything else (a ``paging.next`` URL, form fields with a JSON body) goes through requests.
    """
    plain_body = not data if json_body is not None else _plain(data)  # requests sends form fields over JSON
    if "?" in url or not _plain(params) or not plain_body:
        return requests.Request(method, url, params=params, data=data, json=json_body).prepare()
    request = requests.PreparedRequest()
    request.method = method
    request.url = f"{url}?{urlencode(params)}" if params else url
    request.headers = requests.structures.CaseInsensitiveDict()
    request.hooks = {"response": []}
    request.body = None
    if json_body is not None:
        encoded = requests_json.dumps(json_body, allow_nan=False).encode("utf-8")
        request.body = encoded
        request.headers["Content-Length"] = str(len(encoded))
        request.headers["Content-Type"] = "application/json"
    elif data:
        body = urlencode(data)
        request.body = body
        request.headers.update(_FORM)
        request.headers["Content-Length"] = str(len(body))
    elif method not in ("GET", "HEAD"):
        request.headers["Content-Length"] = "0"
    return request


# Below this length a value is not looked for in error texts (``grant_type=authorization_code`` is no secret).
_SCRUB_MIN_LENGTH = 8
_SCRUBBED_KEYS = frozenset({"access_token", "client_secret", "code", "fb_exchange_token", "appsecret_proof"})


def _scrubbed(error: GraphAPIError, *, params: dict[str, Any] | None, data: dict[str, Any] | None) -> GraphAPIError:
    """``error`` with every secret this call sent (token, app secret, authorization code) cut from its text.

    The error classes already redact what looks like a credential (``instaforge.redaction``); this removes
    the exact values too, whatever their shape, should an answer quote one back.
    """
    values = [
        str(value)
        for source in (params or {}, data or {})
        for key, value in source.items()
        if key in _SCRUBBED_KEYS and value and len(str(value)) >= _SCRUB_MIN_LENGTH
    ]
    message = error.message
    for value in values:
        message = message.replace(value, REDACTED)
    if message != error.message:
        error.message = message
        error.args = (message,)
    return error


class InstagramClient:
    """The Graph API client for the Instagram API with Instagram Login. One instance per access token.

    ``on_usage`` is called after every answer (success or error) with the
    parsed usage headers (see ``parse_usage_headers``); an exception it raises
    is logged and never breaks the call. ``before_call`` is called before each
    request (each page, each retry) to an API with a limit of its own
    (``CONVERSATIONS_API``) with its name: it may wait, or raise to stop the call.
    Clients for an account are built by ``safety.graph.graph_client``, which sets both.
    """

    def __init__(
        self,
        *,
        access_token: str = "",
        max_retries: int = 2,
        on_usage: UsageCallback | None = None,
        before_call: CallCallback | None = None,
    ) -> None:
        self.access_token = access_token
        self.max_retries = max_retries
        self.on_usage = on_usage
        self.before_call = before_call
        self.last_usage: dict[str, Any] = {}

    # --- plumbing -------------------------------------------------------
    def _graph_url(self, path: str) -> str:
        return f"{settings.INSTAGRAM_GRAPH_URL}/{settings.INSTAGRAM_API_VERSION}/{path.lstrip('/')}"

    def _report_usage(self, usage: dict[str, Any]) -> None:
        self.last_usage = usage
        if self.on_usage is None:
            return
        try:
            self.on_usage(usage)
        except Exception:
            logger.exception("The on_usage callback failed; the Graph API call goes on")

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None,
        data: dict[str, Any] | None,
        is_write: bool,
        json_body: dict[str, Any] | None = None,
    ) -> GraphResponse:
        session = _session()
        endpoint = graph_endpoint(url)
        started = time.monotonic()
        try:
            # Prepared and sent through the session's connection pool (its adapter) directly: the Graph API
            # sets no cookies and answers these calls without redirects, so the session's merging of
            # settings, cookie jar and redirect handling were a tenth of a dispatcher's CPU for nothing.
            request = _prepared(method, url, params=params, data=data, json_body=json_body)
            response = session.get_adapter(url).send(
                request,
                timeout=settings.INSTAGRAM_HTTP_TIMEOUT,
                verify=True if session.verify is None else session.verify,
                proxies=_proxies(url),
            )
            response.content  # noqa: B018 (the body is read here, where a broken answer is classified)
        except _NETWORK_ERRORS as exc:
            # Built from safe parts only and raised ``from None``: requests' and urllib3's texts hold the
            # whole URL, query string (the access token) included, and a chained exception would print it in
            # every traceback.
            error = _network_error(exc, method=method, url=url, is_write=is_write)
            GRAPH_REQUESTS.labels(endpoint=endpoint, status="network_error").inc()
            raise _scrubbed(error, params=params, data=data) from None
        GRAPH_REQUESTS.labels(endpoint=endpoint, status=str(response.status_code)).inc()
        GRAPH_REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.monotonic() - started)
        # One line per answer, with what is bound (the action's correlation id and ids, when a sender calls):
        # the path only, never the query string or the body (the token travels there).
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "Graph %s %s: HTTP %s",
                method,
                urlsplit(url).path,
                response.status_code,
                extra={"http_status": response.status_code},
            )
        usage = parse_usage_headers(response.headers)
        usage["status"] = response.status_code
        self._report_usage(usage)
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or (isinstance(body, dict) and ("error" in body or "error_type" in body)):
            error = error_from_response(response.status_code, body, usage=usage)
            if isinstance(error, RateLimitedError):
                GRAPH_RATE_LIMITED.labels(code=str(error.code)).inc()
            raise _scrubbed(error, params=params, data=data)
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
        json_body: dict[str, Any] | None = None,
        is_write: bool = False,
        api: str = "",
    ) -> GraphResponse:
        attempt = 0
        while True:
            if api and self.before_call is not None:
                self.before_call(api)
            try:
                return self._send(method, url, params=params, data=data, json_body=json_body, is_write=is_write)
            except OutcomeUnknownError:
                raise
            except TransientError as exc:
                if (is_write and not isinstance(exc, NotSentError)) or attempt >= self.max_retries:
                    raise
                attempt += 1
                # Full jitter: 0..(0.25 * 2^attempt) seconds.
                time.sleep(random.uniform(0, 0.25 * (2**attempt)))

    def _params(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        params = {key: value for key, value in (extra or {}).items() if value is not None}
        params["access_token"] = self.access_token
        return params

    def _get(self, path: str, /, api: str = "", **params: Any) -> dict[str, Any]:
        return self._call("GET", self._graph_url(path), params=self._params(params), api=api).data

    def _paged(self, path: str, *, params: dict[str, Any], max_items: int, api: str = "") -> Iterator[dict[str, Any]]:
        """Every item of a cursor-paged edge, page after page, at most ``max_items``.

        Graph pages carry ``paging.cursors.after`` and, unless it is the last
        page, ``paging.next`` (https://developers.facebook.com/docs/graph-api/results):
        the walk ends when a page has no ``next``. The ``after`` cursor is sent
        with this client's own parameters, so a ``next`` URL is followed as
        given only when a page has no cursors.
        """
        url = self._graph_url(path)
        query: dict[str, Any] | None = self._params(params)
        seen = 0
        while True:
            body = self._call("GET", url, params=query, api=api).data
            for item in body.get("data", []):
                if seen >= max_items:
                    return
                seen += 1
                yield item
            paging = body.get("paging") or {}
            next_url = paging.get("next")
            if not next_url or seen >= max_items:
                return
            after = (paging.get("cursors") or {}).get("after")
            if after:
                query = self._params({**params, "after": after})
            else:
                url, query = next_url, None

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

    def refresh_long_lived(self) -> LongLivedToken:
        """This client's long-lived token → a fresh one valid 60 days from now.

        ``GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token``
        (https://developers.facebook.com/documentation/instagram-platform/reference/refresh_access_token,
        instagram/tests/fixtures/meta/oauth_refresh_token_response.json). A read
        for retry purposes: refreshing twice only yields two valid tokens.
        """
        response = self._call(
            "GET",
            f"{settings.INSTAGRAM_GRAPH_URL}/refresh_access_token",
            params={"grant_type": "ig_refresh_token", "access_token": self.access_token},
        )
        return LongLivedToken(
            access_token=response.data["access_token"], expires_in=int(response.data.get("expires_in", 0))
        )

    # --- profile -------------------------------------------------------------
    def me(self, *, fields: str = "id,user_id,username,name,account_type") -> dict[str, Any]:
        body = self._get("me", fields=fields)
        # The reference page shows the profile wrapped in "data": [...]; accept both.
        if isinstance(body.get("data"), list) and body["data"]:
            return dict(body["data"][0])
        return body

    # --- media and comments ----------------------------------------------------
    def media_iter(
        self, *, fields: str = MEDIA_FIELDS, page_size: int | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Iterator[dict[str, Any]]:
        """``GET /me/media``: the account's posts, newest first, every page.

        https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media
        """
        return self._paged("me/media", params={"fields": fields, "limit": page_size}, max_items=max_items)

    def media_list(
        self, *, fields: str = MEDIA_FIELDS, page_size: int | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> list[dict[str, Any]]:
        return list(self.media_iter(fields=fields, page_size=page_size, max_items=max_items))

    def comments_iter(
        self,
        *,
        media_id: str,
        fields: str = COMMENT_FIELDS,
        page_size: int | None = None,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> Iterator[dict[str, Any]]:
        """``GET /{ig-media-id}/comments``: top-level comments of a post, every page.

        https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-media/comments
        """
        return self._paged(f"{media_id}/comments", params={"fields": fields, "limit": page_size}, max_items=max_items)

    def comments_list(
        self,
        *,
        media_id: str,
        fields: str = COMMENT_FIELDS,
        page_size: int | None = None,
        max_items: int = DEFAULT_MAX_ITEMS,
    ) -> list[dict[str, Any]]:
        return list(self.comments_iter(media_id=media_id, fields=fields, page_size=page_size, max_items=max_items))

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
        data = self._get(f"{comment_id}/replies", fields="id,text,from,timestamp")
        return list(data.get("data", []))

    def comment_hide(self, *, comment_id: str, hide: bool = True) -> dict[str, Any]:
        """``POST /{ig-comment-id}?hide=true|false``; answers ``{"success": true}``.

        https://developers.facebook.com/documentation/instagram-platform/comment-moderation
        (instagram/tests/fixtures/meta/comment_hide_response.json).
        """
        return self._call(
            "POST",
            self._graph_url(comment_id),
            params=self._params(),
            data={"hide": "true" if hide else "false"},
            is_write=True,
        ).data

    def comment_delete(self, *, comment_id: str) -> dict[str, Any]:
        """``DELETE /{ig-comment-id}``; answers ``{"success": true}`` (same page as ``comment_hide``)."""
        return self._call("DELETE", self._graph_url(comment_id), params=self._params(), is_write=True).data

    # --- mentions ----------------------------------------------------------------
    def mentioned_comment(self, *, comment_id: str, fields: str = "id,text,timestamp,media") -> dict[str, Any]:
        """``GET /me?fields=mentioned_comment.comment_id({id}){fields}``: a comment that @mentions the account.

        The Instagram Login overview lists Mentions, but the ``mentioned_comment``
        and ``mentioned_media`` reference pages document Facebook Login
        requirements only, and the webhooks examples page says @mentions reach
        Business Login for Instagram apps inside ``comments`` notifications (the
        ``mentions`` field is Facebook Login's). Best effort against
        graph.instagram.com; the sandbox does not serve it.
        """
        body = self._get("me", fields=f"mentioned_comment.comment_id({comment_id}){{{fields}}}")
        return dict(body.get("mentioned_comment") or {})

    def mentioned_media(
        self, *, media_id: str, fields: str = "id,caption,media_type,timestamp,comments_count"
    ) -> dict[str, Any]:
        """``GET /me?fields=mentioned_media.media_id({id}){fields}`` (see ``mentioned_comment``)."""
        body = self._get("me", fields=f"mentioned_media.media_id({media_id}){{{fields}}}")
        return dict(body.get("mentioned_media") or {})

    # --- messaging -----------------------------------------------------------------
    def _messages_post(self, payload: dict[str, Any]) -> dict[str, Any]:
        # POST /me/messages with a JSON body, as every Messaging API sample sends it.
        return self._call(
            "POST", self._graph_url("me/messages"), params=self._params(), json_body=payload, is_write=True
        ).data

    def message_send(self, *, recipient_id: str, message: dict[str, Any], human_agent: bool = False) -> dict[str, Any]:
        """``POST /me/messages`` with ``recipient.id`` (an IGSID) and a ``message`` object.

        Answers ``{"recipient_id", "message_id"}``. Refused outside the 24-hour
        window (``OutsideMessagingWindowError``). ``human_agent`` tags the message
        ``HUMAN_AGENT`` (``messaging_type: MESSAGE_TAG``), which a person may send up
        to 7 days after the customer's last message (needs the Human Agent feature).
        https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api
        """
        payload: dict[str, Any] = {"recipient": {"id": recipient_id}, "message": message}
        if human_agent:
            payload.update({"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"})
        return self._messages_post(payload)

    def message_send_text(
        self,
        *,
        recipient_id: str,
        text: str,
        quick_replies: list[dict[str, str]] | None = None,
        human_agent: bool = False,
    ) -> dict[str, Any]:
        """A text message, with optional quick replies (``{"content_type": "text", "title", "payload"}``, at most 13).

        https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api/quick-replies
        """
        message: dict[str, Any] = {"text": text}
        if quick_replies:
            message["quick_replies"] = [{"content_type": "text", **reply} for reply in quick_replies]
        return self.message_send(recipient_id=recipient_id, message=message, human_agent=human_agent)

    def message_send_generic_template(self, *, recipient_id: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
        """A generic template (a carousel of ``elements`` with title, image_url, subtitle, buttons).

        https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api/generic-template
        """
        attachment = {"type": "template", "payload": {"template_type": "generic", "elements": elements}}
        return self.message_send(recipient_id=recipient_id, message={"attachment": attachment})

    def message_send_media(self, *, recipient_id: str, media_type: str, url: str) -> dict[str, Any]:
        """An image, video or audio attachment by URL (``{"attachment": {"type", "payload": {"url"}}}``)."""
        if media_type not in ATTACHMENT_TYPES:
            raise ValueError(f"media_type must be one of {sorted(ATTACHMENT_TYPES)}")
        return self.message_send(
            recipient_id=recipient_id, message={"attachment": {"type": media_type, "payload": {"url": url}}}
        )

    def private_reply(self, *, comment_id: str, text: str) -> dict[str, Any]:
        """A private reply to a commenter: ``recipient: {"comment_id": ...}``; one per comment, within 7 days.

        https://developers.facebook.com/documentation/instagram-platform/private-replies
        """
        return self._messages_post({"recipient": {"comment_id": comment_id}, "message": {"text": text}})

    def sender_action(
        self, *, recipient_id: str, action: str, message_id: str | None = None, reaction: str | None = None
    ) -> dict[str, Any]:
        """``typing_on``, ``typing_off``, ``mark_seen``, or ``react`` / ``unreact`` to ``message_id``.

        https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api/sender-actions
        """
        if action not in SENDER_ACTIONS:
            raise ValueError(f"action must be one of {sorted(SENDER_ACTIONS)}")
        payload: dict[str, Any] = {"recipient": {"id": recipient_id}, "sender_action": action}
        if action in {"react", "unreact"}:
            if not message_id:
                raise ValueError("react and unreact need the message_id")
            payload["payload"] = {"message_id": message_id}
            if action == "react":
                payload["payload"]["reaction"] = reaction or "love"
        return self._messages_post(payload)

    # --- ice breakers (messenger profile) -------------------------------------------------
    # https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/
    # messaging-api/ice-breakers (instagram/tests/fixtures/meta/ice_breakers_*.json)
    def ice_breakers_set(self, *, questions: list[dict[str, str]], locale: str = "default") -> dict[str, Any]:
        """``POST /me/messenger_profile``: the account's ice breakers, ``{"question", "payload"}`` each, at most 4.

        Replaces what was set before. Only the status is relied on (the page shows no
        answer body); ``ice_breakers_get`` reads the result back.
        """
        if not 1 <= len(questions) <= MAX_ICE_BREAKERS:
            raise ValueError(f"between 1 and {MAX_ICE_BREAKERS} ice breakers")
        body = {
            "platform": "instagram",
            "ice_breakers": [{"call_to_actions": questions, "locale": locale}],
        }
        return self._call(
            "POST", self._graph_url("me/messenger_profile"), params=self._params(), json_body=body, is_write=True
        ).data

    def ice_breakers_get(self) -> list[dict[str, Any]]:
        """``GET /me/messenger_profile?fields=ice_breakers&platform=instagram``: one entry per locale."""
        body = self._get("me/messenger_profile", fields="ice_breakers", platform="instagram")
        return list(body.get("data") or [])

    def ice_breakers_delete(self) -> dict[str, Any]:
        """``DELETE /me/messenger_profile`` with ``fields: ["ice_breakers"]``: no ice breakers any more."""
        return self._call(
            "DELETE",
            self._graph_url("me/messenger_profile"),
            params=self._params({"platform": "instagram"}),
            json_body={"fields": ["ice_breakers"]},
            is_write=True,
        ).data

    def conversations_iter(
        self, *, user_id: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> Iterator[dict[str, Any]]:
        """``GET /me/conversations?platform=instagram``: ``{"id", "updated_time"}`` per conversation.

        With ``user_id`` (an IGSID) only the conversation with that person.
        https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/conversations-api
        """
        params = {"platform": "instagram", "user_id": user_id, "fields": "id,updated_time"}
        return self._paged("me/conversations", params=params, max_items=max_items, api=CONVERSATIONS_API)

    def conversations_list(
        self, *, user_id: str | None = None, max_items: int = DEFAULT_MAX_ITEMS
    ) -> list[dict[str, Any]]:
        return list(self.conversations_iter(user_id=user_id, max_items=max_items))

    def conversation_messages(self, *, conversation_id: str) -> list[dict[str, Any]]:
        """``GET /{conversation-id}?fields=messages``: ``{"id", "created_time"}`` of its latest messages.

        The Conversations API returns details for the 20 most recent messages only.
        """
        body = self._get(conversation_id, api=CONVERSATIONS_API, fields="messages")
        return list((body.get("messages") or {}).get("data", []))

    def message_get(self, *, message_id: str, fields: str = MESSAGE_FIELDS) -> dict[str, Any]:
        """``GET /{message-id}?fields=id,created_time,from,to,message``."""
        return self._get(message_id, api=CONVERSATIONS_API, fields=fields)

    def user_profile(self, *, igsid: str, fields: str = USER_PROFILE_FIELDS) -> dict[str, Any]:
        """``GET /{IGSID}?fields=...``: a messaging user's profile (needs their consent: they messaged first)."""
        return self._get(igsid, fields=fields)

    # --- content publishing -------------------------------------------------------
    def media_container_create(
        self,
        *,
        image_url: str | None = None,
        video_url: str | None = None,
        media_type: str | None = None,
        caption: str | None = None,
        is_carousel_item: bool = False,
        children: list[str] | None = None,
        alt_text: str | None = None,
        user_tags: list[dict[str, Any]] | None = None,
        collaborators: list[str] | None = None,
        location_id: str | None = None,
    ) -> str:
        """``POST /me/media``: a media container; returns its id. Publish it once its status is ``FINISHED``.

        https://developers.facebook.com/documentation/instagram-platform/content-publishing and the
        IG User Media reference (``alt_text``, ``user_tags``, ``collaborators``, ``location_id``: JSON arrays
        are sent as JSON text, as in the reference's sample request).
        """
        data: dict[str, Any] = {
            "image_url": image_url,
            "video_url": video_url,
            "media_type": media_type,
            "caption": caption,
            "is_carousel_item": "true" if is_carousel_item else None,
            "children": ",".join(children) if children else None,
            "alt_text": alt_text or None,
            "user_tags": json.dumps(user_tags) if user_tags else None,
            "collaborators": json.dumps(collaborators) if collaborators else None,
            "location_id": location_id or None,
        }
        body = self._call(
            "POST",
            self._graph_url("me/media"),
            params=self._params(),
            data={key: value for key, value in data.items() if value is not None},
            is_write=True,
        ).data
        return str(body["id"])

    def media_container_status(self, *, container_id: str) -> dict[str, Any]:
        """``GET /{ig-container-id}?fields=status_code,status``.

        ``status_code`` is EXPIRED, ERROR, FINISHED, IN_PROGRESS or PUBLISHED
        (https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-container).
        """
        return self._get(container_id, fields="id,status_code,status")

    def media_publish(self, *, creation_id: str) -> str:
        """``POST /me/media_publish?creation_id=``: publishes a container; returns the new media id."""
        body = self._call(
            "POST",
            self._graph_url("me/media_publish"),
            params=self._params(),
            data={"creation_id": creation_id},
            is_write=True,
        ).data
        return str(body["id"])

    def media_get(self, *, media_id: str, fields: str = MEDIA_FIELDS) -> dict[str, Any]:
        """``GET /{ig-media-id}?fields=``: one post (e.g. its ``permalink`` once published)."""
        return self._get(media_id, fields=fields)

    def stories_list(self, *, fields: str = MEDIA_FIELDS) -> list[dict[str, Any]]:
        """``GET /me/stories``: the account's live stories (``/me/media`` does not list them).

        https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/stories
        """
        return list(self._get("me/stories", fields=fields).get("data", []))

    def media_comment_create(self, *, media_id: str, message: str) -> dict[str, Any]:
        """``POST /{ig-media-id}/comments?message=``: the account comments on its post; answers ``{"id"}``.

        https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments
        """
        return self._call(
            "POST",
            self._graph_url(f"{media_id}/comments"),
            params=self._params(),
            data={"message": message},
            is_write=True,
        ).data

    def content_publishing_limit(self) -> dict[str, Any]:
        """``GET /me/content_publishing_limit?fields=quota_usage,config``: ``{"quota_usage", "config": {...}}``.

        https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
        """
        body = self._get("me/content_publishing_limit", fields="quota_usage,config")
        data = body.get("data")
        return dict(data[0]) if isinstance(data, list) and data else {}

    # --- insights -------------------------------------------------------------------
    def media_insights(self, *, media_id: str, metrics: list[str]) -> list[dict[str, Any]]:
        """``GET /{ig-media-id}/insights?metric=...``: ``[{"name", "period", "values": [{"value"}], "title", …}]``.

        https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media/insights
        (fixture ``insights_media_response.json``). A metric with no data yet is left out of ``data``, not 0.
        """
        return list(self._get(f"{media_id}/insights", metric=",".join(metrics)).get("data", []))

    def account_insights(
        self,
        *,
        metrics: list[str],
        period: str = "day",
        metric_type: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /me/insights?metric=...&period=...``: the account's insights, one item per metric.

        Without ``metric_type`` (``time_series``) an item holds ``values: [{"value", "end_time"}]`` per day
        (``insights_account_time_series_response.json``); with ``metric_type="total_value"`` it holds
        ``total_value: {"value"}`` for the whole ``since``–``until`` range
        (``insights_account_total_value_response.json``). ``since``/``until`` are Unix times.
        https://developers.facebook.com/documentation/instagram-platform/api-reference/instagram-user/insights
        """
        params: dict[str, Any] = {"metric": ",".join(metrics), "period": period, "metric_type": metric_type}
        params.update({"since": since, "until": until})
        return list(self._get("me/insights", **params).get("data", []))
