"""The walking skeleton's thread, end to end over real HTTP, with no mocks.

A member connects an account through Instagram Login (the sandbox), adds a
comment rule; a follower comments in the sandbox; the sandbox delivers the
signed webhook to InstaForge's live server; the reply is planned on the
ledger, passes the safety gate, and the dispatcher sends it to the sandbox.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, InstagramAccount, Membership
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from engagement.models import Comment
from instagram.models import InboundEvent
from sandbox.models import SandboxCall, SandboxComment, SandboxWebhookDelivery
from sandbox.services import sandbox_account_create, sandbox_authorize, sandbox_comment_post
from sandbox.testing import SandboxServer
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from warmup.services import warmup_skip


def dispatch_until_idle(*, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Action.all_workspaces.exclude(
            state__in=[ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED]
        ).exists():
            return
        dispatch_once(worker_id="test-dispatcher")
        time.sleep(0.05)
    raise AssertionError(f"actions still pending: {list(Action.all_workspaces.values('state', 'last_reason'))}")


def connect_through_instagram_login(client: Client, username: str) -> InstagramAccount:
    """What a member does: Connect Instagram → consent in the sandbox → back to the callback."""
    response = client.get(reverse("instagram_connect"))
    assert response.status_code == 302
    authorize = urlparse(response["Location"])
    query = parse_qs(authorize.query)
    sandbox_account = sandbox_account_create(username=username)
    code = sandbox_authorize(
        account=sandbox_account, redirect_uri=query["redirect_uri"][0], scopes=query["scope"][0].split(",")
    )
    callback = urlparse(query["redirect_uri"][0]).path
    response = client.get(callback, {"code": code + "#_", "state": query["state"][0]})
    assert response.status_code == 302, response
    return InstagramAccount.all_workspaces.get(ig_user_id=sandbox_account.user_id)


def skip_warm_up(account: InstagramAccount) -> InstagramAccount:
    """These threads are not about the warm-up (warmup/tests are): an operator skips it, as in the demo."""
    warmup_skip(account_id=account.pk, actor=None, reason="test account: not about the warm-up")
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    return account


@pytest.fixture
def member(client: Client, make_user, make_workspace) -> dict[str, Any]:
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    return {"user": user, "workspace": workspace}


def test_a_comment_gets_exactly_one_reply(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer, live_server, settings
) -> None:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"

    account = connect_through_instagram_login(client, "demo_bakery")
    assert account.state == AccountState.WARMUP_DAY_1
    account = skip_warm_up(account)
    assert account.workspace_id == member["workspace"].pk
    assert "IGAA" not in account.access_token_encrypted  # stored encrypted

    response = client.post(
        reverse("rule_create", args=[account.pk]),
        {
            "name": "Prices",
            "keywords": "price, cost",
            "reply_templates": "Hi {username}, it is 2.50!",
            "priority": 100,
            "is_active": "on",
        },
    )
    assert response.status_code == 302

    media = account_media(account)
    comment = sandbox_comment_post(media=media, from_username="hungry_fan", text="What's the PRİCE? 🥐")
    delivery = SandboxWebhookDelivery.objects.get()
    assert delivery.status == 200, delivery.error

    stored = Comment.all_workspaces.get(ig_comment_id=comment.comment_id)
    assert stored.matched_rule is not None and stored.matched_rule.name == "Prices"

    dispatch_until_idle()
    replies = SandboxComment.objects.filter(parent=comment, via_api=True)
    assert [reply.text for reply in replies] == ["Hi @hungry_fan, it is 2.50!"]

    # Meta delivers again (a retry): still one event, one action, one reply.
    webhook_deliver(payload=comment_webhook_payload(comment=comment))
    dispatch_until_idle()
    assert InboundEvent.objects.get().deliveries == 2
    assert Action.all_workspaces.count() == 1
    assert SandboxComment.objects.filter(parent=comment, via_api=True).count() == 1
    assert SandboxCall.objects.filter(method="POST", path__endswith=f"/{comment.comment_id}/replies").count() == 1

    # The member sees the comment, the rule and the reply's ledger entry.
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "What&#x27;s the PRİCE?" in page or "What's the PRİCE?" in page
    assert "Prices" in page
    assert "Succeeded" in page
    action = Action.all_workspaces.get()
    detail = client.get(reverse("action_detail", args=[action.pk])).content.decode()
    assert "within every limit" in detail


def account_media(account: InstagramAccount):
    from sandbox.models import SandboxMedia

    return SandboxMedia.objects.filter(account__user_id=account.ig_user_id).first()


def test_only_the_workspace_that_connected_sees_the_account(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer
) -> None:
    account = connect_through_instagram_login(client, "solo_shop")
    assert Membership.all_workspaces.filter(workspace_id=account.workspace_id, user=member["user"]).exists()
