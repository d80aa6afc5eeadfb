"""Fixtures of the sandbox's own tests."""

from __future__ import annotations

import pytest
from django.conf import settings

from sandbox import services
from sandbox.models import SandboxAccount, SandboxMedia, SandboxToken

# sandbox_server and webhook_receiver come from sandbox.testing, a plugin of the root conftest.

REDIRECT_URI = "https://app.example.com/instagram/callback/"
ALL_SCOPES = [
    "instagram_business_basic",
    "instagram_business_manage_comments",
    "instagram_business_manage_messages",
    "instagram_business_content_publish",
    "instagram_business_manage_insights",
]


def issue_token(account: SandboxAccount, scopes: list[str] = ALL_SCOPES) -> SandboxToken:
    """A short-lived token of ``account``, obtained the way the app obtains one."""
    code = services.sandbox_authorize(account=account, redirect_uri=REDIRECT_URI, scopes=scopes)
    return services.sandbox_code_exchange(
        client_id=settings.INSTAGRAM_APP_ID,
        client_secret=settings.INSTAGRAM_APP_SECRET,
        grant_type="authorization_code",
        redirect_uri=REDIRECT_URI,
        code=code,
    )


@pytest.fixture
def account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(username="acme.shop", name="Acme Shop")


@pytest.fixture
def post(account: SandboxAccount) -> SandboxMedia:
    media = account.media.first()
    assert media is not None
    return media


@pytest.fixture
def token(account: SandboxAccount) -> SandboxToken:
    return issue_token(account)
