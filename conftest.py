"""Fixtures shared by every app's tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import pytest
from allauth.account.models import EmailAddress
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, InstagramAccount, Role, User, Workspace
from accounts.tenancy import workspace_scope
from tests.factories import TEST_PASSWORD, InstagramAccountFactory, UserFactory, WorkspaceFactory

pytest_plugins = ["sandbox.testing"]


@pytest.fixture(autouse=True)
def _shared_cache_emptied() -> Iterator[None]:
    """Each test starts from an empty shared cache (rate-limit counts, used TOTP codes, cached media).

    The database cache (the embedded default) is rolled back with each test's transaction; Redis
    (REDIS_URL) outlives a test, so it is emptied after each one (the suite's own Redis database).
    """
    yield
    from django.core.cache import caches
    from django.core.cache.backends.db import DatabaseCache

    if not isinstance(caches["default"], DatabaseCache):
        caches["default"].clear()


@pytest.fixture
def make_user(db: None):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, password: str = TEST_PASSWORD) -> User:
        # A verified address, as sign-up leaves it before the first login (settings: no account enumeration).
        return UserFactory.create(email=email or f"user{next(counter)}@example.com", password=password)

    return make


def totp_code(user: User) -> str:
    """The current code of the user's authenticator app (its TOTP secret, at this time).

    A code is valid for its 30-second step only (no tolerance): near the end of a step this waits for
    the next one, so the request that sends the code is not answered after it changed.
    """
    import time

    from allauth.mfa import app_settings as mfa_settings
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time
    from allauth.mfa.utils import decrypt

    left_in_step = mfa_settings.TOTP_PERIOD - time.time() % mfa_settings.TOTP_PERIOD
    if left_in_step < 3:
        time.sleep(left_in_step + 0.05)
    secret = decrypt(Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"])
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def log_into_admin(client: Client, user: User, password: str = TEST_PASSWORD) -> None:
    """Log a staff user into the admin as an operator does: the members' login, the password, a TOTP code.

    The admin has no login of its own and asks staff for a second factor used in the session
    (instaforge/admin_site.py), so ``force_login`` is not enough for it. The user gets an
    authenticator app, a verified address and the password if it has none.
    """
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    if not user.has_usable_password():
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    if not Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        TOTP.activate(user, generate_totp_secret())
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate"), response
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(user)})
    assert response.status_code == 302, response
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.fixture
def admin_login(db: None) -> Callable[..., None]:
    """``log_into_admin``: the admin's login with a second factor, for tests of admin pages."""
    return log_into_admin


@pytest.fixture
def make_workspace(db: None, make_user):
    def make(name: str = "Acme", owner: User | None = None, role: str = Role.OWNER) -> Workspace:
        return WorkspaceFactory.create(name=name, created_by=owner or make_user(), membership__role=role)

    return make


@pytest.fixture
def make_account(db: None):
    counter = iter(range(1, 10_000))

    def make(
        workspace: Workspace, state: str = AccountState.ACTIVE, token: str = "test-token", **fields: object
    ) -> InstagramAccount:
        number = next(counter)
        defaults: dict[str, object] = {"ig_user_id": f"1784140000000{number:04d}", "username": f"brand{number}"}
        defaults.update(fields)
        return InstagramAccountFactory.create(workspace=workspace, state=state, token=token, **defaults)

    return make


@pytest.fixture
def workspace(make_workspace) -> Workspace:
    return make_workspace()


@pytest.fixture
def in_workspace(workspace: Workspace) -> Iterator[Workspace]:
    with workspace_scope(workspace):
        yield workspace


@pytest.fixture
def owner_client(client: Client, make_user, make_workspace, make_account) -> Client:
    """A client logged in as the owner of a new workspace with one account (``client.workspace``, ``client.account``).

    Test modules that need another set-up define their own ``owner_client``, which overrides this one."""
    owner = make_user()
    workspace = make_workspace(owner=owner)
    client.force_login(owner)
    client.workspace = workspace  # type: ignore[attr-defined]
    client.account = make_account(workspace)  # type: ignore[attr-defined]
    return client


def csv_dicts(response) -> list[dict[str, str]]:
    """The rows of a streamed CSV export (its BOM dropped), as dictionaries keyed by the header."""
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.DictReader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
