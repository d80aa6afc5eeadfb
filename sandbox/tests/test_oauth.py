"""Business Login over real HTTP: consent page, code, short-lived, long-lived and refreshed tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings

from sandbox.models import SandboxAccount, SandboxAuthCode, SandboxCall, SandboxToken
from sandbox.testing import SandboxServer
from sandbox.tests.conftest import ALL_SCOPES, REDIRECT_URI


def _authorize_url(server: SandboxServer, **overrides: str) -> str:
    params = {
        "client_id": settings.INSTAGRAM_APP_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": ",".join(ALL_SCOPES),
        "state": "opaque-state-123",
        **overrides,
    }
    return requests.Request("GET", f"{server.url}/oauth/authorize", params=params).prepare().url or ""


def _allow(server: SandboxServer, form: dict[str, str]) -> requests.Response:
    return requests.post(_authorize_url(server), data={"decision": "allow", **form}, allow_redirects=False, timeout=5)


def _exchange(server: SandboxServer, code: str, **overrides: str) -> requests.Response:
    form = {
        "client_id": settings.INSTAGRAM_APP_ID,
        "client_secret": settings.INSTAGRAM_APP_SECRET,
        "grant_type": "authorization_code",
        "redirect_uri": REDIRECT_URI,
        "code": code,
        **overrides,
    }
    return requests.post(f"{server.url}/oauth/access_token", data=form, timeout=5)


def test_consent_page_shows_app_scopes_and_accounts(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    response = requests.get(_authorize_url(sandbox_server), timeout=5)

    assert response.status_code == 200
    for marker in ('data-testid="sandbox-allow"', 'data-testid="sandbox-cancel"', "acme.shop", *ALL_SCOPES):
        assert marker in response.text
    # Self-contained: no stylesheet, script or image is fetched from anywhere.
    assert "://" not in response.text


def test_full_code_flow_to_long_lived_token_and_me(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    allowed = _allow(sandbox_server, {"account": "acme.shop"})

    assert allowed.status_code == 302
    location = allowed.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?") and location.endswith("#_")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["opaque-state-123"]

    short = _exchange(sandbox_server, query["code"][0])
    assert short.status_code == 200
    entry = short.json()["data"][0]
    assert entry["user_id"] == account.user_id
    assert entry["permissions"] == ",".join(ALL_SCOPES)

    long_lived = requests.get(
        f"{sandbox_server.url}/access_token",
        params={
            "grant_type": "ig_exchange_token",
            "client_secret": settings.INSTAGRAM_APP_SECRET,
            "access_token": entry["access_token"],
        },
        timeout=5,
    ).json()
    assert long_lived["token_type"] == "bearer"
    assert 60 * 86400 - 60 < long_lived["expires_in"] <= 60 * 86400

    me = requests.get(
        f"{sandbox_server.url}/v24.0/me",
        params={"fields": "user_id,username", "access_token": long_lived["access_token"]},
        timeout=5,
    )
    assert me.json() == {"user_id": account.user_id, "username": "acme.shop"}
    logged = SandboxCall.objects.filter(path="/oauth/access_token").get()
    assert logged.params["client_secret"] == "REDACTED"
    assert logged.account == account


def test_product_client_completes_the_flow(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    from instagram.client import InstagramClient

    code = parse_qs(urlsplit(_allow(sandbox_server, {"account": "acme.shop"}).headers["Location"]).query)["code"][0]
    client = InstagramClient()

    short = client.exchange_code(code=code, redirect_uri=REDIRECT_URI)
    long_lived = client.exchange_long_lived(short_lived_token=short.access_token)
    profile = InstagramClient(access_token=long_lived.access_token).me()

    assert short.user_id == account.user_id
    assert short.permissions == ALL_SCOPES
    assert profile["user_id"] == account.user_id
    assert profile["username"] == "acme.shop"


def test_allow_with_a_new_username_creates_the_account(sandbox_server: SandboxServer) -> None:
    allowed = _allow(sandbox_server, {"account": "", "new_username": "@New.Brand"})

    assert allowed.status_code == 302
    created = SandboxAccount.objects.get(username="new.brand")
    assert SandboxAuthCode.objects.get().account == created
    assert created.media.count() == 1


def test_cancel_redirects_with_user_denied(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    response = requests.post(
        _authorize_url(sandbox_server), data={"decision": "cancel"}, allow_redirects=False, timeout=5
    )

    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {
        "error": ["access_denied"],
        "error_reason": ["user_denied"],
        "error_description": ["The user denied your request"],
        "state": ["opaque-state-123"],
    }
    assert not SandboxAuthCode.objects.exists()


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"client_id": "someone-else"}, "Invalid platform app"),
        ({"scope": "instagram_basic"}, "Invalid Scopes: instagram_basic"),
        ({"redirect_uri": "javascript:alert(1)"}, "Invalid redirect_uri"),
    ],
)
def test_bad_authorize_request_is_an_error_page(
    sandbox_server: SandboxServer, account: SandboxAccount, override: dict[str, str], reason: str
) -> None:
    response = requests.get(_authorize_url(sandbox_server, **override), timeout=5)

    assert response.status_code == 400
    assert reason in response.text


def test_a_code_works_once(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    code = parse_qs(urlsplit(_allow(sandbox_server, {"account": "acme.shop"}).headers["Location"]).query)["code"][0]

    assert _exchange(sandbox_server, code).status_code == 200
    again = _exchange(sandbox_server, code)

    assert again.status_code == 400
    assert again.json() == {
        "error_type": "OAuthException",
        "code": 400,
        "error_message": "Matching code was not found or was already used",
    }


def test_code_exchange_checks_secret_and_redirect_uri(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    code = parse_qs(urlsplit(_allow(sandbox_server, {"account": "acme.shop"}).headers["Location"]).query)["code"][0]

    assert (
        _exchange(sandbox_server, code, client_secret="wrong").json()["error_message"]
        == "Error validating client secret."
    )
    mismatch = _exchange(sandbox_server, code, redirect_uri="https://elsewhere.example.com/")
    assert mismatch.json()["error_message"].startswith("Error validating verification code")
    assert _exchange(sandbox_server, code).status_code == 200


def test_refresh_gives_a_new_long_lived_token(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    exchange = {
        "grant_type": "ig_exchange_token",
        "client_secret": settings.INSTAGRAM_APP_SECRET,
        "access_token": token.token,
    }
    long_lived = requests.get(f"{sandbox_server.url}/access_token", params=exchange, timeout=5).json()["access_token"]

    refreshed = requests.get(
        f"{sandbox_server.url}/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": long_lived},
        timeout=5,
    )
    short_refresh = requests.get(
        f"{sandbox_server.url}/refresh_access_token",
        params={"grant_type": "ig_refresh_token", "access_token": token.token},
        timeout=5,
    )

    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] not in (long_lived, token.token)
    assert SandboxToken.objects.get(token=refreshed.json()["access_token"]).kind == SandboxToken.Kind.LONG
    assert short_refresh.status_code == 400
    assert short_refresh.json()["error"]["code"] == 100
