"""Missed webhooks are found by reading the API, stored once, and processed like a delivery."""

from __future__ import annotations

import pytest

from accounts.models import Workspace
from accounts.services import account_connect_complete
from engagement.models import Comment
from instagram.backfill import account_backfill, accounts_backfill
from instagram.models import InboundEvent
from sandbox.models import SandboxComment
from sandbox.services import sandbox_account_create, sandbox_authorize, sandbox_fault_add, sandbox_follower_message
from sandbox.testing import SandboxServer

REDIRECT_URI = "http://testserver/instagram/callback/"


@pytest.fixture
def account(sandbox_server: SandboxServer, workspace: Workspace, settings):
    sandbox_account = sandbox_account_create(username="backfill_shop")
    code = sandbox_authorize(account=sandbox_account, redirect_uri=REDIRECT_URI, scopes=settings.INSTAGRAM_OAUTH_SCOPES)
    connected = account_connect_complete(workspace=workspace, code=code, redirect_uri=REDIRECT_URI, actor=None)
    return connected, sandbox_account


def test_a_comment_and_a_dm_whose_webhooks_were_lost_are_backfilled_once(
    account, settings, transactional_db: None
) -> None:
    connected, sandbox_account = account
    sandbox_fault_add(kind="drop_webhooks", ratio=1.0)  # Meta's notifications never arrive
    media = sandbox_account.media.get()
    lost = SandboxComment.objects.create(media=media, from_id="1234567890123456", from_username="fan", text="lost?")
    sandbox_follower_message(account=sandbox_account, from_username="dm_fan", text="hello, anyone?")
    assert not InboundEvent.objects.exists()

    summary = account_backfill(account_id=connected.pk)
    assert summary.created == 2
    fields = sorted(InboundEvent.objects.values_list("field", flat=True))
    assert fields == ["comments", "messaging"]
    assert Comment.all_workspaces.get().ig_comment_id == lost.comment_id  # processed like a delivery

    again = account_backfill(account_id=connected.pk)
    assert again.created == 0
    assert InboundEvent.objects.count() == 2
    assert all(event.deliveries == 1 for event in InboundEvent.objects.all())  # the backfill is not a delivery


def test_the_schedule_walks_every_acting_account(account) -> None:
    assert accounts_backfill() == {"accounts": 1, "found": 0, "failed": 0}
