"""The sandbox's "Remove app" and "Delete my data": Meta's signed callbacks, as a recording endpoint receives them.

End to end against the product (the account disconnected, the data deleted, the status page) is in
privacy/tests/test_callbacks.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
from django.conf import settings
from pytest_django.fixtures import Settings

from instagram.signatures import signed_request_parse
from sandbox.models import SandboxAccount, SandboxAppCallback, SandboxToken
from sandbox.services import follower_id
from sandbox.testing import SandboxServer, WebhookReceiver

from .conftest import issue_token

DOCUMENTED_FIELDS = set(
    json.loads(
        (
            Path(__file__).resolve().parents[2] / "privacy/tests/fixtures/data_deletion_signed_request_payload.json"
        ).read_text()
    )
)


@pytest.fixture
def callback_receiver(webhook_receiver: WebhookReceiver, settings: Settings) -> WebhookReceiver:
    """The recording endpoint stands in for the app's two callback URLs."""
    settings.SANDBOX_DEAUTHORIZE_URL = webhook_receiver.url.replace("/webhooks/instagram/", "/instagram/deauthorize/")
    settings.SANDBOX_DATA_DELETION_URL = webhook_receiver.url.replace(
        "/webhooks/instagram/", "/instagram/data-deletion/"
    )
    return webhook_receiver


def received_payload(receiver: WebhookReceiver, index: int = -1) -> tuple[str, dict[str, object]]:
    request = receiver.requests[index]
    form = parse_qs(request.body.decode("ascii"))
    assert list(form) == ["signed_request"]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    payload = signed_request_parse(signed_request=form["signed_request"][0], app_secret=settings.INSTAGRAM_APP_SECRET)
    return request.path, payload


def test_remove_app_revokes_the_tokens_then_sends_the_deauthorize_callback(
    sandbox_server: SandboxServer, account: SandboxAccount, callback_receiver: WebhookReceiver
) -> None:
    token = issue_token(account)

    page = requests.post(f"{sandbox_server.url}/u/{account.username}/remove-app/", timeout=10)

    assert page.status_code == 200
    token.refresh_from_db()
    assert token.revoked and not SandboxToken.objects.filter(revoked=False).exists()
    path, payload = received_payload(callback_receiver)
    assert path == "/instagram/deauthorize/"
    assert set(payload) == DOCUMENTED_FIELDS  # the documented example's fields, nothing invented
    assert payload["user_id"] == account.app_scoped_id and payload["algorithm"] == "HMAC-SHA256"
    assert isinstance(payload["issued_at"], int) and payload["expires"] == payload["issued_at"] + 3600
    callback = SandboxAppCallback.objects.get()
    assert callback.kind == SandboxAppCallback.Kind.DEAUTHORIZE and callback.status == 200 and callback.delivered
    assert 'data-testid="sandbox-app-callback" data-kind="deauthorize"' in page.text


def test_delete_my_data_as_the_account_and_as_a_follower(
    sandbox_server: SandboxServer, account: SandboxAccount, callback_receiver: WebhookReceiver
) -> None:
    requests.post(f"{sandbox_server.url}/u/{account.username}/delete-my-data/", timeout=10)
    page = requests.post(
        f"{sandbox_server.url}/u/{account.username}/delete-my-data/", data={"from_username": "@Fan.One"}, timeout=10
    )

    (owner_path, owner_payload), (_, follower_payload) = (
        received_payload(callback_receiver, 0),
        received_payload(callback_receiver, 1),
    )
    assert owner_path == "/instagram/data-deletion/"
    assert owner_payload["user_id"] == account.app_scoped_id
    assert follower_payload["user_id"] == follower_id("fan.one")  # the id the app saw on their comments and DMs
    assert set(follower_payload) == DOCUMENTED_FIELDS
    assert [callback.username for callback in SandboxAppCallback.objects.order_by("id")] == [
        account.username,
        "fan.one",
    ]
    assert "sandbox_commenter=fan.one" in page.history[0].headers["Set-Cookie"]
    # The follower has not written to this account yet: their callback is on the log page, not the account page.
    log = requests.get(f"{sandbox_server.url}/log/", timeout=10).text
    assert "fan.one" in log and 'data-testid="sandbox-app-callbacks-log"' in log


def test_a_failed_callback_is_recorded_with_its_error(
    sandbox_server: SandboxServer, account: SandboxAccount, callback_receiver: WebhookReceiver
) -> None:
    callback_receiver.respond_with = [403]

    page = requests.post(f"{sandbox_server.url}/u/{account.username}/delete-my-data/", timeout=10)

    callback = SandboxAppCallback.objects.get()
    assert callback.status == 403 and callback.error == "HTTP 403" and not callback.delivered
    assert callback.confirmation_code == ""
    assert "HTTP 403" in page.text


def test_an_unreachable_app_is_recorded_not_raised(
    sandbox_server: SandboxServer, account: SandboxAccount, settings: Settings
) -> None:
    settings.SANDBOX_DATA_DELETION_URL = settings.SANDBOX_URL.rstrip("/") + ":1/nowhere"

    page = requests.post(f"{sandbox_server.url}/u/{account.username}/delete-my-data/", timeout=10)

    assert page.status_code == 200
    assert SandboxAppCallback.objects.get().status is None and SandboxAppCallback.objects.get().error


def test_a_follower_needs_a_username(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    page = requests.post(
        f"{sandbox_server.url}/u/{account.username}/delete-my-data/", data={"from_username": "no spaces!"}, timeout=10
    )

    assert page.status_code == 400 and "username" in page.text
    assert not SandboxAppCallback.objects.exists()


def test_the_account_page_offers_both_buttons(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    page = requests.get(f"{sandbox_server.url}/u/{account.username}/", timeout=10).text

    for testid in ("sandbox-remove-app", "sandbox-delete-my-data", "follower-delete-my-data"):
        assert f'data-testid="{testid}"' in page
