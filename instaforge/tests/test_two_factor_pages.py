"""The two-factor pages (allauth's) are styled like the rest: the site's layout, cards, buttons and one danger style.

allauth renders them from its "elements"; templates/allauth/elements/ gives those the site's classes, and
templates/allauth/layouts/ puts every allauth page in base.html (entrance pages narrow, manage pages wide).
"""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from accounts.models import User
from conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _empty_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def member(db: None) -> User:
    user = User.objects.create_user(email="member@example.com", password=TEST_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _logged_in(client: Client, user: User) -> Client:
    """Logged in with the password, then re-authenticated, as allauth asks before changing a second factor."""
    response = client.post(reverse("account_login"), {"login": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    reauthenticate = client.get(reverse("account_reauthenticate")).content.decode()
    _assert_site_page(reauthenticate, "entrance")
    client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    return client


def _buttons(html: str) -> list[str]:
    return re.findall(r"<(?:button|a)\b[^>]*class=\"btn[^\"]*\"[^>]*>", html)


def _assert_site_page(html: str, body_class: str) -> None:
    assert f'<body class="{body_class}">' in html
    assert "/static/css/app.css" in html or "app.css" in html
    assert 'class="brand"' in html  # the site's top bar


def test_the_login_page_uses_the_entrance_layout_and_the_site_buttons(client: Client) -> None:
    html = client.get(reverse("account_login")).content.decode()
    _assert_site_page(html, "entrance")
    assert _buttons(html)


def test_activating_the_authenticator_app_looks_like_the_rest(client: Client, member: User) -> None:
    html = _logged_in(client, member).get(reverse("mfa_activate_totp")).content.decode()
    _assert_site_page(html, "manage")
    assert 'class="qr-code"' in html
    assert '<span class="helptext">' in html
    assert any('type="submit"' in button for button in _buttons(html))


def test_the_security_page_shows_cards_and_deactivation_in_the_danger_style(client: Client, member: User) -> None:
    client = _logged_in(client, member)
    TOTP.activate(member, generate_totp_secret())
    RecoveryCodes.activate(member)
    html = client.get(reverse("mfa_index")).content.decode()
    _assert_site_page(html, "manage")
    assert html.count('<section class="card">') >= 2
    deactivate = [button for button in _buttons(html) if reverse("mfa_deactivate_totp") in button]
    assert deactivate and all('class="btn danger"' in button for button in deactivate)


def test_the_code_page_at_login_looks_like_the_rest(client: Client, member: User) -> None:
    TOTP.activate(member, generate_totp_secret())
    response = client.post(reverse("account_login"), {"login": member.email, "password": TEST_PASSWORD})
    assert response["Location"] == reverse("mfa_authenticate")
    html = client.get(reverse("mfa_authenticate")).content.decode()
    _assert_site_page(html, "entrance")
    assert _buttons(html)


def test_the_recovery_codes_page_after_a_full_login(client: Client, member: User) -> None:
    RecoveryCodes.activate(member)  # recovery codes without an app: the password is the whole login
    html = _logged_in(client, member).get(reverse("mfa_view_recovery_codes")).content.decode()
    _assert_site_page(html, "manage")
    assert 'class="recovery-codes"' in html
