"""factory_boy factories for the rows most tests need: users, workspaces, members, accounts, actions, comments, DMs.

Each factory builds a valid row with as little as possible said; a test names
what it is about and leaves the rest to the factory::

    account = InstagramAccountFactory(workspace=workspace, state=AccountState.WARMUP_DAY_1)
    ActionFactory(account=account, state=ActionState.SUCCEEDED)

Tenant-owned rows go through their model's ``all_workspaces`` manager (the
scoped ``objects`` manager fails closed outside a workspace scope), and take
their ``workspace`` from their account when they have one. The root
conftest's ``make_user``, ``make_workspace`` and ``make_account`` fixtures
build through these factories.
"""

from __future__ import annotations

from typing import Any, TypeVar

import factory
from allauth.account.models import EmailAddress
from django.db import models
from factory.django import DjangoModelFactory

from accounts.models import AccountState, InstagramAccount, Membership, Role, User, Workspace
from accounts.services import account_connect_complete
from accounts.vault import token_encrypt
from actions.models import Action, ActionState, ActionType
from engagement.models import Comment
from messaging.models import Conversation, Message, MessageDirection
from sandbox.models import SandboxAccount
from sandbox.services import sandbox_account_create, sandbox_authorize
from warmup.services import warmup_skip

Row = TypeVar("Row", bound=models.Model)

TEST_PASSWORD = "a-Strong-pass-123"  # noqa: S105 (the test users' password)


class TenantFactory(DjangoModelFactory[Row]):
    """Creates through ``all_workspaces``: a factory is test set-up, not code running inside a workspace."""

    class Meta:
        abstract = True

    @classmethod
    def _get_manager(cls, model_class: type[models.Model]) -> Any:
        return model_class.all_workspaces  # type: ignore[attr-defined]


class UserFactory(DjangoModelFactory[User]):
    """A user who can log in: a password (``TEST_PASSWORD``) and a verified primary address, as sign-up leaves them."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda number: f"member{number}@example.com")
    password = TEST_PASSWORD

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        return model_class.objects.create_user(*args, **kwargs)

    @factory.post_generation
    def verified_address(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """Sign-up verifies the address before the first login (settings: no account enumeration)."""
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, verified=True, primary=True)


class WorkspaceFactory(DjangoModelFactory[Workspace]):
    """A workspace created by a new user who owns it.

    ``membership__role=Role.ADMIN`` gives its creator another role; ``membership=None`` no membership at all.
    """

    class Meta:
        model = Workspace
        skip_postgeneration_save = True

    name = "Acme"
    created_by = factory.SubFactory(UserFactory)
    membership = factory.RelatedFactory(
        "tests.factories.MembershipFactory",
        factory_related_name="workspace",
        user=factory.LazyAttribute(lambda membership: membership.workspace.created_by),
        role=Role.OWNER,
    )


class MembershipFactory(TenantFactory[Membership]):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class InstagramAccountFactory(TenantFactory[InstagramAccount]):
    """A connected account (``ACTIVE``) holding an encrypted access token (``token``, plain)."""

    class Meta:
        model = InstagramAccount
        exclude = ("token",)

    workspace = factory.SubFactory(WorkspaceFactory)
    ig_user_id = factory.Sequence(lambda number: f"1784150000{number:07d}")
    username = factory.Sequence(lambda number: f"shop{number}")
    state = AccountState.ACTIVE
    token = "test-token"  # noqa: S105 (a stand-in, encrypted like a real one)
    access_token_encrypted = factory.LazyAttribute(lambda account: token_encrypt(plaintext=account.token))


class ActionFactory(TenantFactory[Action]):
    """A planned comment reply on the ledger, due now."""

    class Meta:
        model = Action

    account = factory.SubFactory(InstagramAccountFactory)
    workspace = factory.SelfAttribute("account.workspace")
    action_type = ActionType.COMMENT_REPLY
    idempotency_key = factory.Sequence(lambda number: f"action-{number}")
    payload = factory.LazyFunction(dict)
    state = ActionState.PLANNED


class CommentFactory(TenantFactory[Comment]):
    """A follower's comment on one of the account's posts, as received from Instagram."""

    class Meta:
        model = Comment

    account = factory.SubFactory(InstagramAccountFactory)
    workspace = factory.SelfAttribute("account.workspace")
    ig_comment_id = factory.Sequence(lambda number: f"1800000{number:010d}")
    media_id = "17900000000000001"
    from_id = factory.Sequence(lambda number: f"99{number:014d}")
    from_username = factory.Sequence(lambda number: f"follower{number}")
    text = "price?"


class ConversationFactory(TenantFactory[Conversation]):
    """A DM conversation of the account with one follower."""

    class Meta:
        model = Conversation

    account = factory.SubFactory(InstagramAccountFactory)
    workspace = factory.SelfAttribute("account.workspace")
    participant_igsid = factory.Sequence(lambda number: f"98{number:014d}")
    participant_username = factory.Sequence(lambda number: f"fan{number}")


class MessageFactory(TenantFactory[Message]):
    """A follower's DM in a conversation (``direction`` ``MessageDirection.OUTBOUND`` for one of ours)."""

    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    account = factory.SelfAttribute("conversation.account")
    workspace = factory.SelfAttribute("conversation.workspace")
    mid = factory.Sequence(lambda number: f"mid.{number:012d}")
    direction = MessageDirection.INBOUND
    text = "Hi!"


def account_connected_in_sandbox(
    *, workspace: Workspace, username: str, scopes: tuple[str, ...] = ("instagram_business_manage_comments",)
) -> tuple[InstagramAccount, SandboxAccount]:
    """An account connected through Instagram Login to the sandbox, its warm-up skipped by an operator.

    For tests about what happens after the connection (the ledger, metrics, logs), not about the warm-up.
    """
    sandbox_account = sandbox_account_create(username=username)
    redirect_uri = "http://testserver/instagram/callback/"
    code = sandbox_authorize(account=sandbox_account, redirect_uri=redirect_uri, scopes=list(scopes))
    account = account_connect_complete(workspace=workspace, code=code, redirect_uri=redirect_uri, actor=None)
    warmup_skip(account_id=account.pk, actor=None, reason="test account: not about the warm-up")
    account.refresh_from_db()
    return account, sandbox_account
