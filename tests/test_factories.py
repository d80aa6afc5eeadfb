"""The factories build valid rows, each tenant-owned row in the workspace of the account it belongs to."""

from __future__ import annotations

from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from accounts.models import AccountState, Membership, Role
from accounts.vault import token_decrypt
from actions.models import ActionState
from messaging.models import MessageDirection
from tests.factories import (
    TEST_PASSWORD,
    ActionFactory,
    CommentFactory,
    ConversationFactory,
    InstagramAccountFactory,
    MembershipFactory,
    MessageFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = pytest.mark.django_db


def test_a_user_can_log_in_with_the_test_password_and_a_verified_address(client: Client) -> None:
    user = UserFactory.create(email="Jane@Shop.example")

    assert user.email == "jane@shop.example"
    assert EmailAddress.objects.get(user=user).verified
    assert client.login(email=user.email, password=TEST_PASSWORD)
    assert not EmailAddress.objects.filter(user=UserFactory.create(verified_address=False)).exists()


def test_a_workspace_is_owned_by_its_creator_unless_said_otherwise() -> None:
    owned = WorkspaceFactory.create()
    [membership] = Membership.all_workspaces.filter(workspace=owned)
    assert (membership.user, membership.role) == (owned.created_by, Role.OWNER)

    admin = WorkspaceFactory.create(membership__role=Role.ADMIN)
    assert Membership.all_workspaces.get(workspace=admin).role == Role.ADMIN
    assert not Membership.all_workspaces.filter(workspace=WorkspaceFactory.create(membership=None)).exists()

    member = MembershipFactory.create(workspace=owned)
    assert member.role == Role.MEMBER and Membership.all_workspaces.filter(workspace=owned).count() == 2


def test_an_account_is_connected_with_its_token_encrypted() -> None:
    first = InstagramAccountFactory.create()
    second = InstagramAccountFactory.create(token="another-token")  # noqa: S106 (a stand-in)

    assert first.state == AccountState.ACTIVE and first.ig_user_id != second.ig_user_id
    assert "test-token" not in first.access_token_encrypted
    assert token_decrypt(ciphertext=first.access_token_encrypted) == "test-token"
    assert token_decrypt(ciphertext=second.access_token_encrypted) == "another-token"


def test_rows_of_an_account_are_in_its_workspace() -> None:
    account = InstagramAccountFactory.create()
    conversation = ConversationFactory.create(account=account)
    rows: list[Any] = [
        ActionFactory.create(account=account),
        ActionFactory.create(account=account, state=ActionState.SUCCEEDED),
        CommentFactory.create(account=account),
        conversation,
        MessageFactory.create(conversation=conversation),
        MessageFactory.create(conversation=conversation, direction=MessageDirection.OUTBOUND),
    ]

    assert {row.workspace_id for row in rows} == {account.workspace_id}
    assert {row.account_id for row in rows} == {account.pk}
    assert ActionFactory.create().workspace_id != account.workspace_id  # a new account, in a new workspace
