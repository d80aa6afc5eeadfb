"""Shared fixtures of the ledger's tests: an account connected to the sandbox over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from accounts.models import InstagramAccount, Workspace
from actions.models import Action, ActionType
from actions.services import action_plan
from safety.selectors import account_safety_cache_clear
from sandbox.models import SandboxAccount, SandboxCall, SandboxComment
from sandbox.testing import SandboxServer
from tests.factories import account_connected_in_sandbox


@pytest.fixture(autouse=True)
def _safety_settings_cache_emptied() -> Iterator[None]:
    """Each test starts without cached safety settings (a workspace's id may be another test's, rolled back).

    With production cache times (INSTAFORGE_TEST_PRODUCTION_CACHES=1, a CI leg) the cache is on.
    """
    account_safety_cache_clear()
    yield
    account_safety_cache_clear()


@dataclass
class Connected:
    account: InstagramAccount
    sandbox_account: SandboxAccount
    comment: SandboxComment


@pytest.fixture
def connected(sandbox_server: SandboxServer, workspace: Workspace) -> Connected:
    """An account connected through Instagram Login to the sandbox, with a follower's comment on its post."""
    # These tests are about the ledger, not the warm-up (warmup/tests): an operator skips it.
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="dispatch_shop")
    media = sandbox_account.media.get()
    comment = SandboxComment.objects.create(media=media, from_id="1234567890123456", from_username="fan", text="price?")
    return Connected(account, sandbox_account, comment)


def plan_reply(connected: Connected, *, key: str = "reply-1", message: str = "Thanks!") -> Action:
    action, _ = action_plan(
        account=connected.account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key=key,
        payload={"comment_id": connected.comment.comment_id, "message": message},
    )
    return action


def replies_sent(connected: Connected) -> int:
    return SandboxCall.objects.filter(method="POST", path__endswith=f"/{connected.comment.comment_id}/replies").count()
