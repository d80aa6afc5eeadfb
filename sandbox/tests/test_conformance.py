"""Conformance with Meta's documented payloads (instagram/tests/fixtures/meta/, sources in SOURCES.md).

What the sandbox emits must have the documented keys with the documented
JSON types. Where the docs show optional keys (error_user_title, parent_id
on replies only), the sandbox's keys must be a subset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings

from sandbox import services
from sandbox.models import SandboxAccount, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer, WebhookReceiver
from sandbox.tests.conftest import REDIRECT_URI
from sandbox.webhooks import comment_webhook_payload

FIXTURES = Path(settings.BASE_DIR) / "instagram" / "tests" / "fixtures" / "meta"


def documented(name: str) -> Any:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{name} is not among the documented fixtures yet")
    return json.loads(path.read_text())


def shape(value: Any) -> Any:
    """Keys and JSON types, values dropped: {"id": "1"} → {"id": "str"}."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def assert_shape_within(emitted: Any, docs: Any, path: str = "$") -> None:
    """Every key the sandbox emits is documented, with the documented type."""
    if isinstance(docs, dict):
        assert isinstance(emitted, dict), f"{path}: expected an object"
        for key, item in emitted.items():
            assert key in docs, f"{path}.{key} is not in the documented payload"
            assert_shape_within(item, docs[key], f"{path}.{key}")
    elif isinstance(docs, list):
        assert isinstance(emitted, list), f"{path}: expected a list"
        for item in emitted:
            assert_shape_within(item, docs[0], f"{path}[]")
    else:
        assert shape(emitted) == shape(docs), f"{path}: {emitted!r} where the docs have {docs!r}"


def assert_same_shape(emitted: Any, docs: Any) -> None:
    assert shape(emitted) == shape(docs)


@pytest.fixture
def short_lived(sandbox_server: SandboxServer, account: SandboxAccount) -> dict[str, Any]:
    code = services.sandbox_authorize(account=account, redirect_uri=REDIRECT_URI, scopes=["instagram_business_basic"])
    form = {
        "client_id": settings.INSTAGRAM_APP_ID,
        "client_secret": settings.INSTAGRAM_APP_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
        "code": code,
    }
    body: dict[str, Any] = requests.post(f"{sandbox_server.url}/oauth/access_token", data=form, timeout=5).json()
    return body


def test_short_lived_token_response(short_lived: dict[str, Any]) -> None:
    assert_same_shape(short_lived, documented("oauth_short_lived_token_response.json"))


def test_code_exchange_error(sandbox_server: SandboxServer) -> None:
    form = {
        "client_id": settings.INSTAGRAM_APP_ID,
        "client_secret": settings.INSTAGRAM_APP_SECRET,
        "grant_type": "authorization_code",
        "code": "nope",
    }
    body = requests.post(f"{sandbox_server.url}/oauth/access_token", data=form, timeout=5).json()

    assert_same_shape(body, documented("oauth_short_lived_token_error.json"))


def test_long_lived_and_refreshed_token_responses(sandbox_server: SandboxServer, short_lived: dict[str, Any]) -> None:
    params = {
        "grant_type": "ig_exchange_token",
        "client_secret": settings.INSTAGRAM_APP_SECRET,
        "access_token": short_lived["data"][0]["access_token"],
    }
    long_lived = requests.get(f"{sandbox_server.url}/access_token", params=params, timeout=5).json()
    refresh = {"grant_type": "ig_refresh_token", "access_token": long_lived["access_token"]}
    refreshed = requests.get(f"{sandbox_server.url}/refresh_access_token", params=refresh, timeout=5).json()

    assert_same_shape(long_lived, documented("oauth_long_lived_token_response.json"))
    assert_same_shape(refreshed, documented("oauth_refresh_token_response.json"))


def test_me_response(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    params = {"fields": "user_id,username", "access_token": token.token}
    body = requests.get(f"{sandbox_server.url}/v24.0/me", params=params, timeout=5).json()

    # The guide wraps the profile in "data"; the sandbox answers the node flat (see views/graph.py).
    assert_same_shape(body, documented("me_response.json")["data"][0])


def test_reply_response_and_error(
    sandbox_server: SandboxServer, webhook_receiver: WebhookReceiver, post: SandboxMedia, token: SandboxToken
) -> None:
    comment = services.sandbox_comment_post(media=post, from_username="jane", text="?")
    url = f"{sandbox_server.url}/v24.0/{comment.comment_id}/replies"

    created = requests.post(url, params={"access_token": token.token}, data={"message": "!"}, timeout=5).json()
    error = requests.post(url, params={"access_token": "expired-or-bogus"}, data={"message": "!"}, timeout=5).json()

    assert_same_shape(created, documented("comment_reply_response.json"))
    assert_shape_within(error, documented("error_response_graph_generic.json"))


def test_usage_header(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    response = requests.get(f"{sandbox_server.url}/v24.0/me", params={"access_token": token.token}, timeout=5)
    headers = documented("usage_headers.json")

    assert_same_shape(json.loads(response.headers["X-App-Usage"]), headers["X-App-Usage"]["parsed"])
    [business] = json.loads(response.headers["X-Business-Use-Case-Usage"]).values()
    [documented_business] = headers["X-Business-Use-Case-Usage"]["parsed"].values()
    assert_same_shape(business, documented_business)


def test_comments_webhook(
    webhook_receiver: WebhookReceiver, post: SandboxMedia, token: SandboxToken, transactional_db: None
) -> None:
    comment = services.sandbox_comment_post(media=post, from_username="jane", text="top-level")
    reply = services.sandbox_reply_create(account=token.account, comment=comment, message="a reply")

    docs = documented("webhook_comments.json")
    [received] = webhook_receiver.requests
    assert_shape_within(json.loads(received.body), docs)
    assert_same_shape(comment_webhook_payload(comment=reply), docs)
