"""One login for everyone: the admin goes through allauth (rate limits, MFA), staff need a second factor,
failed logins are counted across processes, and neither sign-up nor password reset tells who has an account."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.core import mail
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import User
from conftest import TEST_PASSWORD, totp_code

pytestmark = pytest.mark.django_db

ADMIN_PAGE = "/admin/accounts/workspace/"
TOO_MANY = "Too many failed login attempts"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """Rate-limit counts start at zero and are not left behind (Redis and a committed cache table outlive a test)."""
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def operator(db: None) -> User:
    user = User.objects.create_superuser(email="operator@instaforge.example", password=TEST_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def with_totp(user: User) -> User:
    TOTP.activate(user, generate_totp_secret())
    return user


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def admin_opens(client: Client, path: str = ADMIN_PAGE) -> bool:
    return client.get(path).status_code == 200


def login_post(client: Client, email: str, password: str, **headers: Any) -> Any:
    return client.post(reverse("account_login"), {"login": email, "password": password}, **headers)


# --- The admin's login is the members' login ------------------------------------------------------------


def test_the_admin_login_sends_to_the_members_login_keeping_next(client: Client, operator: User) -> None:
    response = client.get(ADMIN_PAGE)
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={quote(ADMIN_PAGE, safe='')}"
    # An outside `next` is not followed.
    response = client.get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == f"{reverse('account_login')}?next={quote('/admin/', safe='')}"


def test_the_admin_login_takes_no_credentials(client: Client, operator: User, settings: Any) -> None:
    settings.ADMIN_REQUIRE_MFA = False  # even where a password alone would be enough
    response = client.post("/admin/login/", {"username": operator.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not logged_in(client)
    assert not admin_opens(client)


def test_a_superuser_with_totp_needs_the_code_to_open_the_admin(client: Client, operator: User) -> None:
    with_totp(operator)
    response = client.post(
        f"{reverse('account_login')}?next={ADMIN_PAGE}", {"login": operator.email, "password": TEST_PASSWORD}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    assert not admin_opens(client)  # the password alone opens nothing

    wrong_code = f"{(int(totp_code(operator)) + 1) % 1_000_000:06d}"
    client.post(reverse("mfa_authenticate"), {"code": wrong_code})
    assert not admin_opens(client)
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(operator)})
    assert response["Location"] == ADMIN_PAGE
    assert admin_opens(client)


@pytest.mark.parametrize("entry", ["/admin/login/", "/accounts/login/"])
def test_thirty_wrong_passwords_then_the_right_one_is_refused(
    client: Client, operator: User, settings: Any, entry: str
) -> None:
    settings.ADMIN_REQUIRE_MFA = False  # the password is the only factor here: the rate limit alone must hold
    login_url = client.get(entry)["Location"] if entry.startswith("/admin/") else entry
    assert login_url.startswith(reverse("account_login"))

    for _ in range(30):
        client.post(login_url, {"login": operator.email, "password": "wrong-guess-123"})
    response = client.post(login_url, {"login": operator.email, "password": TEST_PASSWORD})

    assert response.status_code in (200, 429)
    assert response.status_code == 429 or TOO_MANY in response.content.decode()
    assert not logged_in(client)
    assert not admin_opens(client)


# --- Staff need a second factor -------------------------------------------------------------------------


def test_in_production_staff_without_an_authenticator_are_sent_to_set_one_up(
    client: Client, operator: User, settings: Any
) -> None:
    settings.ADMIN_REQUIRE_MFA = None  # the default: follows DEBUG, read at request time
    settings.DEBUG = False
    client.force_login(operator)
    for path in ["/admin/", ADMIN_PAGE, "/admin/password_change/", "/admin/logout/"]:
        assert not admin_opens(client, path), path
    response = client.get(ADMIN_PAGE, follow=True)
    # To the authenticator set-up (which first asks for the password again, as allauth does).
    assert any(url.startswith(reverse("mfa_activate_totp")) for url, _ in response.redirect_chain)
    assert "needs two-factor authentication" in " ".join(str(m) for m in get_messages(response.wsgi_request))

    settings.DEBUG = True  # the demo: an operator without an authenticator is let in
    assert admin_opens(client)
    settings.ADMIN_REQUIRE_MFA = True  # and the setting overrides DEBUG
    assert not admin_opens(client)


@pytest.mark.parametrize("required", [True, False])
def test_a_password_only_session_of_a_staff_user_with_totp_does_not_open_the_admin(
    client: Client, operator: User, settings: Any, required: bool
) -> None:
    settings.ADMIN_REQUIRE_MFA = required
    with_totp(operator)
    client.force_login(operator)  # a session opened without the second factor, by whatever path
    assert not admin_opens(client)
    response = client.get("/admin/login/?next=" + ADMIN_PAGE)
    assert response["Location"] == f"{reverse('mfa_reauthenticate')}?next={quote(ADMIN_PAGE, safe='')}"

    response = client.post(response["Location"], {"code": totp_code(operator)})
    assert response["Location"] == ADMIN_PAGE
    assert admin_opens(client)


def test_the_admin_login_fixture_opens_the_admin_with_a_code(
    client: Client, operator: User, admin_login: Callable[..., None]
) -> None:
    admin_login(client, operator)
    assert admin_opens(client)


def test_members_cannot_open_the_admin(client: Client, make_user: Callable[..., User]) -> None:
    client.force_login(make_user())
    assert not admin_opens(client)
    assert client.get("/admin/login/").status_code == 403


def test_the_admin_password_change_is_the_members_one(
    client: Client, operator: User, admin_login: Callable[..., None]
) -> None:
    admin_login(client, operator)
    response = client.post(
        "/admin/password_change/",
        {"old_password": TEST_PASSWORD, "new_password1": "Another-Strong-9", "new_password2": "Another-Strong-9"},
    )
    assert response["Location"] == reverse("account_change_password")
    operator.refresh_from_db()
    assert operator.check_password(TEST_PASSWORD)


# --- Rate limits hold across processes ------------------------------------------------------------------


def _database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{database['NAME']}"
    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    host, port = database["HOST"] or "127.0.0.1", database["PORT"] or 5432
    return f"postgres://{database['USER']}{password}@{host}:{port}/{database['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_failed_logins_in_another_process_count_here() -> None:
    """Another web process (a real one: its own interpreter, its own caches) fails 5 logins; here the right
    password is then refused. With a per-process cache (LocMem) each gunicorn worker had its own count."""
    assert django_settings.CACHES["default"]["BACKEND"] in (
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.redis.RedisCache",
    )
    user = User.objects.create_user(email="target@shop.example", password=TEST_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    other_process = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "client = Client()\n"
        "for _ in range(5):\n"
        "    client.post('/accounts/login/', {'login': 'target@shop.example', 'password': 'wrong-guess-123'})\n"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "instaforge.test_settings",
        "DATABASE_URL": _database_url(),
    }
    subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", other_process], env=environment, check=True, timeout=120, cwd=django_settings.BASE_DIR
    )

    client = Client()
    response = login_post(client, "target@shop.example", TEST_PASSWORD)
    assert TOO_MANY in response.content.decode()
    assert not logged_in(client)


# --- Client addresses behind proxies --------------------------------------------------------------------


def _ten_failures(client: Client, **headers: Any) -> None:
    for number in range(10):  # a new address each time: only the per-client limit (10 a minute) can stop them
        login_post(client, f"nobody{number}@shop.example", "wrong-guess-123", **headers)


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_the_limit(
    client: Client, make_user: Callable[..., User], settings: Any
) -> None:
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    user = make_user("owner@shop.example")
    for number in range(10):
        login_post(client, f"nobody{number}@shop.example", "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{number}")
    response = login_post(client, user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert TOO_MANY in response.content.decode()
    assert not logged_in(client)


def test_behind_one_trusted_proxy_each_client_has_its_own_limit(make_user: Callable[..., User], settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    user = make_user("owner@shop.example")
    attacker, customer = Client(REMOTE_ADDR="10.0.0.2"), Client(REMOTE_ADDR="10.0.0.2")  # both behind the proxy
    _ten_failures(attacker, HTTP_X_FORWARDED_FOR="198.51.100.7")

    assert (
        TOO_MANY
        in login_post(attacker, user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7").content.decode()
    )
    # The attacker's own entry on the left is not believed: the proxy's (rightmost) is.
    forged = login_post(attacker, user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.7")
    assert TOO_MANY in forged.content.decode()
    response = login_post(customer, user.email, TEST_PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 302
    assert logged_in(customer)


@pytest.mark.parametrize("forwarded", [None, "", "198.51.100.7", " , ", "not-an-address, 198.51.100.7"])
def test_a_request_that_bypassed_a_trusted_proxy_is_answered_not_a_server_error(
    make_user: Callable[..., User], settings: Any, forwarded: str | None
) -> None:
    """Two trusted proxies but fewer X-Forwarded-For entries: allauth alone raised ImproperlyConfigured (a 500)."""
    settings.TRUSTED_PROXY_COUNT = settings.ALLAUTH_TRUSTED_PROXY_COUNT = 2
    user = make_user("owner@shop.example")
    client = Client(REMOTE_ADDR="10.0.0.2")
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    response = login_post(client, user.email, TEST_PASSWORD, **headers)
    assert response.status_code in {302, 403}


def test_the_trusted_proxy_count_is_allauths() -> None:
    assert django_settings.ALLAUTH_TRUSTED_PROXY_COUNT == django_settings.TRUSTED_PROXY_COUNT


# --- No account enumeration -----------------------------------------------------------------------------


def _page(response: Any, email: str) -> tuple[int, list[tuple[str, int]], str]:
    """What a visitor sees: the status, the redirects, the final page (without its per-request CSRF token,
    and with the address they typed, which the page repeats, as EMAIL)."""
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    return response.status_code, response.redirect_chain, body.replace(email, "EMAIL")


def test_signing_up_with_an_address_that_has_an_account_looks_like_a_new_sign_up(
    make_user: Callable[..., User],
) -> None:
    make_user("taken@shop.example")

    def sign_up(email: str) -> tuple[int, list[tuple[str, int]], str]:
        form = {"email": email, "password1": "Sunny-Shop-2026", "password2": "Sunny-Shop-2026"}
        return _page(Client().post(reverse("account_signup"), form, follow=True), email)

    taken, new = sign_up("taken@shop.example"), sign_up("new@shop.example")
    assert taken == new
    assert new[1][0][0] == reverse("account_email_verification_sent")
    assert User.objects.filter(email="taken@shop.example").count() == 1
    # Each address is told by email: the owner that an account exists, the newcomer how to confirm.
    assert [message.to for message in mail.outbox] == [["taken@shop.example"], ["new@shop.example"]]
    assert mail.outbox[0].body != mail.outbox[1].body


def test_a_password_reset_looks_the_same_for_any_address(make_user: Callable[..., User]) -> None:
    make_user("known@shop.example")

    def reset(email: str) -> tuple[int, list[tuple[str, int]], str]:
        return _page(Client().post(reverse("account_reset_password"), {"email": email}, follow=True), email)

    assert reset("known@shop.example") == reset("unknown@shop.example")
    assert [message.to for message in mail.outbox] == [["known@shop.example"], ["unknown@shop.example"]]
