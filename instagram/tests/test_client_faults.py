"""What the client does when "Meta" misbehaves: injected faults, throttling and usage headers, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from pytest_django.fixtures import Settings

from instagram.client import InstagramClient
from instagram.errors import (
    OutcomeUnknownError,
    PolicyBlockedError,
    RateLimitedError,
    TokenInvalidError,
    TransientError,
)
from sandbox import selectors, services
from sandbox.models import SandboxAccount, SandboxComment, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer
from sandbox.tests.conftest import issue_token


@pytest.fixture
def account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(username="demo_bakery")


@pytest.fixture
def token(account: SandboxAccount) -> SandboxToken:
    return issue_token(account)


@pytest.fixture
def usage_seen() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def client(sandbox_server: SandboxServer, token: SandboxToken, usage_seen: list[dict[str, Any]]) -> InstagramClient:
    return InstagramClient(access_token=token.token, max_retries=2, on_usage=usage_seen.append)


@pytest.fixture
def comment(account: SandboxAccount) -> SandboxComment:
    media = account.media.first()
    assert isinstance(media, SandboxMedia)
    return SandboxComment.objects.create(media=media, from_id="1234567890123456", from_username="jane", text="?")


def test_rate_limit_on_a_write_is_raised_at_once_with_retry_after(
    client: InstagramClient, comment: SandboxComment, usage_seen: list[dict[str, Any]]
) -> None:
    services.sandbox_fault_add(kind="error", code=4, account_username="demo_bakery", path_pattern="replies", times=3)

    with pytest.raises(RateLimitedError) as caught:
        client.comment_reply(comment_id=comment.comment_id, message="hi")

    assert caught.value.code == 4
    assert caught.value.retry_after_seconds == 60
    assert selectors.calls_count(method="POST", path_suffix="/replies", account="demo_bakery") == 1
    assert usage_seen[-1]["estimated_time_to_regain_access"] == 1
    assert usage_seen[-1]["status"] == 400
    assert not comment.replies.exists()


def test_a_5xx_on_a_read_is_retried(client: InstagramClient) -> None:
    services.sandbox_fault_add(kind="status", status=503, path_pattern="/me$", times=1)

    assert client.me()["username"] == "demo_bakery"
    assert selectors.calls_count(method="GET", path_suffix="/me") == 2


def test_a_5xx_on_a_write_is_not_retried(client: InstagramClient, comment: SandboxComment) -> None:
    services.sandbox_fault_add(kind="status", status=500, method="POST", times=1)

    with pytest.raises(TransientError):
        client.comment_reply(comment_id=comment.comment_id, message="hi")

    assert selectors.calls_count(method="POST", path_suffix="/replies") == 1


def test_a_timeout_on_a_write_is_an_unknown_outcome(
    client: InstagramClient, comment: SandboxComment, settings: Settings
) -> None:
    settings.INSTAGRAM_HTTP_TIMEOUT = 0.3
    services.sandbox_fault_add(kind="timeout", milliseconds=700, path_pattern="replies", times=1)

    with pytest.raises(OutcomeUnknownError):
        client.comment_reply(comment_id=comment.comment_id, message="hi")

    # The request did reach "Meta": the reply exists, which is what the executor reconciles.
    time.sleep(0.6)
    assert [reply["text"] for reply in client.comment_replies(comment_id=comment.comment_id)] == ["hi"]


def test_latency(client: InstagramClient) -> None:
    services.sandbox_fault_add(kind="latency", milliseconds=300, times=1)
    started = time.monotonic()

    client.me()

    assert time.monotonic() - started >= 0.3


def test_revocation_makes_every_call_190(client: InstagramClient) -> None:
    services.sandbox_fault_add(kind="revoke", account_username="demo_bakery", times=1)

    with pytest.raises(TokenInvalidError) as caught:
        client.me()
    with pytest.raises(TokenInvalidError):
        client.media_list()

    assert caught.value.reason == "app_not_installed"


def test_policy_block(client: InstagramClient, comment: SandboxComment) -> None:
    services.sandbox_fault_add(kind="policy_block", path_pattern="replies")

    with pytest.raises(PolicyBlockedError):
        client.comment_reply(comment_id=comment.comment_id, message="hi")
    with pytest.raises(PolicyBlockedError):
        client.comment_reply(comment_id=comment.comment_id, message="hi")

    assert services.sandbox_faults_clear() == 1
    assert client.comment_reply(comment_id=comment.comment_id, message="hi")["id"]


def test_fault_for_another_account_does_not_apply(client: InstagramClient) -> None:
    services.sandbox_fault_add(kind="error", code=17, account_username="someone_else")

    assert client.me()["username"] == "demo_bakery"


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_every_rate_limit_code_can_be_injected(client: InstagramClient, code: int) -> None:
    services.sandbox_fault_add(kind="error", code=code, times=1)

    with pytest.raises(RateLimitedError) as caught:
        client.me()

    assert caught.value.code == code


def test_business_use_case_limit(client: InstagramClient, usage_seen: list[dict[str, Any]]) -> None:
    services.sandbox_settings_update(business_calls_per_day=3)
    for _ in range(3):
        client.me()

    with pytest.raises(RateLimitedError) as caught:
        client.me()

    assert caught.value.code == 80002
    assert caught.value.retry_after_seconds is not None and caught.value.retry_after_seconds > 0
    [business] = usage_seen[-1]["business_use_case"].values()
    assert business[0]["call_count"] == 100


def test_usage_is_reported_on_every_answer(client: InstagramClient, usage_seen: list[dict[str, Any]]) -> None:
    client.me()

    assert usage_seen[0]["app"]["call_count"] >= 1
    assert usage_seen[0]["estimated_time_to_regain_access"] == 0
    assert usage_seen[0]["retry_after_seconds"] == 0
    assert client.last_usage is usage_seen[0]


def test_a_failing_usage_callback_does_not_break_the_call(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    def explode(usage: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    assert InstagramClient(access_token=token.token, on_usage=explode).me()["username"] == "demo_bakery"


def test_control_api(sandbox_server: SandboxServer) -> None:
    url = f"{sandbox_server.url}/_control/faults"

    created = requests.post(url, json={"kind": "error", "code": 4, "times": 2, "path_pattern": "replies"}, timeout=5)
    listed = requests.get(url, timeout=5).json()["data"]
    bad = requests.post(url, json={"kind": "nope"}, timeout=5)
    knobs = requests.post(f"{sandbox_server.url}/_control/settings", json={"webhook_batch_size": 5}, timeout=5)
    cleared = requests.delete(url, timeout=5).json()

    assert created.status_code == 201
    assert [(fault["kind"], fault["code"], fault["remaining"]) for fault in listed] == [("error", 4, 2)]
    assert bad.status_code == 400
    assert knobs.json()["webhook_batch_size"] == 5
    assert cleared == {"cleared": 1}
    assert requests.get(url, timeout=5).json() == {"data": []}


def test_the_environments_proxies_apply_per_host_with_no_proxy_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session ignores the environment on each call; the proxies it would have used are passed instead."""
    from instagram import client

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client._proxies_of.cache_clear()
    try:
        assert client._proxies("https://graph.instagram.com/v24.0/me")["https"] == "http://proxy.example:3128"
        assert client._proxies("http://127.0.0.1:8001/v24.0/me") == {}
        assert client._session().trust_env is False
    finally:
        client._proxies_of.cache_clear()
