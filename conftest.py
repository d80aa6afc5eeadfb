"""Fixtures shared by every app's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts.models import AccountState, InstagramAccount, Membership, Role, User, Workspace
from accounts.tenancy import workspace_scope
from accounts.vault import token_encrypt

pytest_plugins = ["sandbox.testing"]


@pytest.fixture
def make_user(db: None):
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, password: str = "a-Strong-pass-123") -> User:
        return User.objects.create_user(email=email or f"user{next(counter)}@example.com", password=password)

    return make


@pytest.fixture
def make_workspace(db: None, make_user):
    def make(name: str = "Acme", owner: User | None = None, role: str = Role.OWNER) -> Workspace:
        owner = owner or make_user()
        workspace = Workspace.objects.create(name=name, created_by=owner)
        Membership.all_workspaces.create(workspace=workspace, user=owner, role=role)
        return workspace

    return make


@pytest.fixture
def make_account(db: None):
    counter = iter(range(1, 10_000))

    def make(
        workspace: Workspace, state: str = AccountState.ACTIVE, token: str = "test-token", **fields: object
    ) -> InstagramAccount:
        number = next(counter)
        defaults: dict[str, object] = {
            "ig_user_id": f"1784140000000{number:04d}",
            "username": f"brand{number}",
            "state": state,
            "access_token_encrypted": token_encrypt(plaintext=token),
        }
        defaults.update(fields)
        return InstagramAccount.all_workspaces.create(workspace=workspace, **defaults)

    return make


@pytest.fixture
def workspace(make_workspace) -> Workspace:
    return make_workspace()


@pytest.fixture
def in_workspace(workspace: Workspace) -> Iterator[Workspace]:
    with workspace_scope(workspace):
        yield workspace
