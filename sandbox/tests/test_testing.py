"""The test helpers themselves: the sandbox and the product answered in process (``WSGITransport``) as over HTTP."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests
from django.db import connection

from accounts.models import InstagramAccount, Workspace
from instagram.models import InboundEvent
from sandbox import services
from sandbox.models import SandboxAccount, SandboxCall, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer, serve_sandbox_in_process
from sandbox.tests.conftest import issue_token
from sandbox.webhooks import comment_webhook_payload, webhook_deliver

USAGE_HEADERS = ("X-App-Usage", "X-Business-Use-Case-Usage")


def _me(url: str, token: SandboxToken) -> requests.Response:
    return requests.get(
        f"{url}/v24.0/me", params={"access_token": token.token, "fields": "user_id,username"}, timeout=5
    )


def _comparable(response: requests.Response) -> tuple[Any, ...]:
    body = response.json()
    if "error" in body:
        body["error"].pop("fbtrace_id")  # random per answer, as Meta's
    headers = {name: response.headers.get(name) is not None for name in USAGE_HEADERS}
    return response.status_code, response.reason, body, response.headers["Content-Type"], headers


def test_the_in_process_sandbox_answers_as_the_one_over_http(
    sandbox_server: SandboxServer, sandbox_live_server: SandboxServer, account: SandboxAccount, token: SandboxToken
) -> None:
    assert sandbox_server.url != sandbox_live_server.url
    for make_call in (
        lambda url: _me(url, token),
        lambda url: requests.get(f"{url}/v24.0/me", params={"access_token": "unknown"}, timeout=5),
        lambda url: requests.post(f"{url}/v24.0/me/nothing_here", params={"access_token": token.token}, timeout=5),
    ):
        in_process, over_http = make_call(sandbox_server.url), make_call(sandbox_live_server.url)
        assert _comparable(in_process) == _comparable(over_http)
    assert _me(sandbox_server.url, token).json() == {"user_id": account.user_id, "username": "acme.shop"}


def test_an_in_process_call_sees_the_tests_uncommitted_rows_and_leaves_its_transaction_open(
    sandbox_server: SandboxServer,
) -> None:
    assert connection.in_atomic_block  # the plain ``db`` fixture: one transaction, rolled back at the end
    account = services.sandbox_account_create(username="not.committed")
    answer = _me(sandbox_server.url, issue_token(account))

    assert answer.status_code == 200 and answer.json()["username"] == "not.committed"
    assert SandboxCall.objects.filter(path="/v24.0/me", account=account).count() == 1
    assert connection.in_atomic_block and not connection.needs_rollback and connection.connection is not None


def test_an_answer_later_than_the_timeout_is_a_read_timeout_and_what_it_did_is_done(
    sandbox_server: SandboxServer, token: SandboxToken, post: SandboxMedia
) -> None:
    services.sandbox_fault_add(kind="latency", milliseconds=300, path_pattern="comments", times=1)
    url = f"{sandbox_server.url}/v24.0/{post.media_id}/comments"

    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(url, params={"access_token": token.token, "message": "Late"}, timeout=0.1)
    assert post.comments.filter(text="Late").count() == 1
    assert requests.post(url, params={"access_token": token.token, "message": "On time"}, timeout=5).ok


def test_the_address_refuses_real_connections_and_answers_nothing_once_stopped(db: None) -> None:
    server = serve_sandbox_in_process()
    port = int(server.url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    assert requests.get(f"{server.url}/v24.0/me", timeout=5).status_code == 400  # answered in process

    server.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{server.url}/v24.0/me", timeout=5)


def test_the_sandboxes_signed_webhook_reaches_the_product_in_process(
    product_in_process: str, post: SandboxMedia, workspace: Workspace, make_account
) -> None:
    instaforge_account: InstagramAccount = make_account(workspace, ig_user_id=post.account.user_id)
    comment = services.sandbox_comment_post(media=post, from_username="jane.doe", text="Price?")

    delivery = webhook_deliver(payload=comment_webhook_payload(comment=comment))

    assert delivery.url == f"{product_in_process}/webhooks/instagram/"
    assert (delivery.status, delivery.error, delivery.attempts) == (200, "", 1)
    event = InboundEvent.objects.get()
    assert event.field == "comments" and event.account_id == instaforge_account.pk
