"""The emulated graph.instagram.com and api.instagram.com endpoints (JSON)."""

from __future__ import annotations

import hashlib
from typing import Any

from django.utils import timezone

from sandbox import selectors, services
from sandbox.errors import GraphError
from sandbox.models import SandboxAccount, SandboxComment, SandboxToken
from sandbox.views.base import ApiCall, api_endpoint

GRAPH_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"  # "2017-05-19T23:27:28+0000"


def _token_body(token: SandboxToken) -> dict[str, Any]:
    expires_in = int((token.expires_at - timezone.now()).total_seconds())
    return {"access_token": token.token, "token_type": "bearer", "expires_in": expires_in}


def _require_grant_type(call: ApiCall, expected: str) -> None:
    if call.param("grant_type") != expected:
        raise GraphError.invalid_parameter(f"grant_type must be {expected}")


@api_endpoint(methods={"POST"})
def oauth_access_token(call: ApiCall) -> dict[str, Any]:
    """``POST api.instagram.com/oauth/access_token``: code → short-lived token.

    The current Business Login page shows the answer wrapped in ``data`` with
    ``permissions`` as one comma-separated string (instagram/tests/fixtures/meta/
    oauth_short_lived_token_response.json).
    """
    params = call.params
    token = services.sandbox_code_exchange(
        client_id=params.get("client_id", ""),
        client_secret=params.get("client_secret", ""),
        grant_type=params.get("grant_type", ""),
        redirect_uri=params.get("redirect_uri", ""),
        code=params.get("code", ""),
    )
    call.account = token.account
    return {"data": [{"access_token": token.token, "user_id": token.account.user_id, "permissions": token.scopes}]}


@api_endpoint(methods={"GET"})
def access_token(call: ApiCall) -> dict[str, Any]:
    """``GET /access_token?grant_type=ig_exchange_token``: short-lived → long-lived token."""
    _require_grant_type(call, "ig_exchange_token")
    client_secret = call.param("client_secret")
    token = call.authenticate()
    return _token_body(services.sandbox_token_exchange(token=token, client_secret=client_secret))


@api_endpoint(methods={"GET"})
def refresh_access_token(call: ApiCall) -> dict[str, Any]:
    """``GET /refresh_access_token?grant_type=ig_refresh_token``: a long-lived token valid 60 more days."""
    _require_grant_type(call, "ig_refresh_token")
    token = call.authenticate()
    return _token_body(services.sandbox_token_refresh(token=token))


# Fields of the IG User node (https://developers.facebook.com/documentation/instagram-platform/reference/me).
USER_FIELDS = frozenset(
    {
        "id",
        "user_id",
        "username",
        "name",
        "account_type",
        "profile_picture_url",
        "followers_count",
        "follows_count",
        "media_count",
    }
)
# Fields of IG Comment (https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-comment).
COMMENT_FIELDS = frozenset(
    {"id", "text", "timestamp", "from", "username", "media", "parent_id", "hidden", "like_count"}
)


def _check_fields(names: list[str], *, known: frozenset[str], node_type: str) -> None:
    for name in names:
        if name not in known:
            raise GraphError.nonexisting_field(field=name, node_type=node_type)


def _user_fields(account: SandboxAccount, names: list[str]) -> dict[str, Any]:
    _check_fields(names, known=USER_FIELDS, node_type="User")
    values: dict[str, Any] = {
        "id": account.app_scoped_id,
        "user_id": account.user_id,
        "username": account.username,
        "account_type": account.account_type,
        # A stable made-up audience (the insights' follower chart needs one that is not 0).
        "followers_count": 1000 + int(hashlib.sha256(account.user_id.encode()).hexdigest()[:4], 16) % 9000,
        "follows_count": 0,
    }
    # Like Graph, fields without a value (no name, no profile picture) are left out.
    if account.name:
        values["name"] = account.name
    if "media_count" in names:
        values["media_count"] = account.media.count()
    return {name: values[name] for name in names if name in values}


@api_endpoint(methods={"GET"})
def me(call: ApiCall) -> dict[str, Any]:
    """``GET /me``: fields of the token's user (https://developers.facebook.com/documentation/instagram-platform/reference/me).

    The /me reference says it "translates to GET /{user-id}", a node read,
    answered as a flat object. The Get Started guide's example wraps it in
    ``data`` (instagram/tests/fixtures/meta/me_response.json); SOURCES.md there
    judges that wrapper a doc error, so the sandbox answers flat.
    """
    account = call.authenticate().account
    return _user_fields(account, call.fields(default="id"))


def _comment_fields(comment: SandboxComment, names: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": comment.comment_id,
        "text": comment.text,
        "timestamp": comment.timestamp.strftime(GRAPH_TIME_FORMAT),
        "from": {"id": comment.from_id, "username": comment.from_username},
        "username": comment.from_username,
        "media": {"id": comment.media.media_id},
        "hidden": False,
        "like_count": 0,
    }
    if comment.parent is not None:
        values["parent_id"] = comment.parent.comment_id
    return {name: values[name] for name in names if name in values}


@api_endpoint(methods={"GET", "POST"})
def comment_replies(call: ApiCall, comment_id: str) -> dict[str, Any]:
    """``POST /{ig-comment-id}/replies?message=`` creates a reply; ``GET`` lists the replies.

    https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies
    """
    token = call.authenticate()
    if services.COMMENT_SCOPE not in token.scope_list:
        raise GraphError.permission_denied()
    comment = selectors.comment_of_account(comment_id=comment_id, account=token.account, related=False)
    if comment is None:
        raise GraphError.unknown_object(object_id=comment_id, method=call.method)
    if call.method == "POST":
        reply = services.sandbox_reply_create(account=token.account, comment=comment, message=call.param("message"))
        return {"id": reply.comment_id}
    names = call.fields(default="id,text,timestamp")
    _check_fields(names, known=COMMENT_FIELDS, node_type="IGComment")
    return {"data": [_comment_fields(reply, names) for reply in selectors.comment_replies(comment=comment)]}


@api_endpoint(methods={"GET", "POST", "DELETE"})
def unknown_object(call: ApiCall, object_id: str) -> dict[str, Any]:
    """Any other node or edge: the token is checked first, then Meta's "Unsupported request" (100/33)."""
    call.authenticate()
    raise GraphError.unknown_object(object_id=object_id, method=call.method)
