"""Each rule action end to end: a follower comments in the sandbox, the signed webhook reaches InstaForge,
the rule plans its actions, the gate allows them, and the sandbox shows the result. Reconcilers too."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.dispatcher.recovery import actions_reconcile_unknown
from actions.models import Action, ActionState
from engagement.models import Comment, ReviewState
from integrations.models import WebhookDelivery
from integrations.services import endpoint_create
from sandbox.models import SandboxComment, SandboxMedia, SandboxMessage
from sandbox.services import sandbox_comment_post
from sandbox.testing import SandboxServer, WebhookReceiver
from tests.test_comment_thread import connect_through_instagram_login, dispatch_until_idle


@pytest.fixture
def connected(client: Client, make_user, make_workspace, sandbox_server: SandboxServer, live_server, settings) -> Any:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    account = connect_through_instagram_login(client, "demo_bakery")
    # Past the warm-up: every action type is enabled (the warm-up itself is tested in safety/).
    InstagramAccount.all_workspaces.filter(pk=account.pk).update(state=AccountState.ACTIVE)
    account.refresh_from_db()
    media = SandboxMedia.objects.filter(account__user_id=account.ig_user_id).first()
    return {"client": client, "account": account, "workspace": workspace, "media": media, "user": user}


def add_rule(client: Client, account: InstagramAccount, **fields: Any) -> None:
    data = {"name": "rule", "trigger_type": "any", "scope": "all_posts", "skip_own": "on", "priority": 100}
    data.update({"is_active": "on", **fields})
    response = client.post(reverse("rule_create", args=[account.pk]), data)
    assert response.status_code == 302, response.context["form"].errors


def test_private_reply_reaches_the_commenter_once_and_makes_a_lead(connected: dict[str, Any]) -> None:
    receiver = WebhookReceiver().start()
    try:
        endpoint_create(workspace=connected["workspace"], url=receiver.url, event_kinds=["new_lead"])
        add_rule(connected["client"], connected["account"], keywords="price", private_reply_templates="Hi {username}!")
        comment = sandbox_comment_post(media=connected["media"], from_username="ana", text="Price?")
        dispatch_until_idle()
        sent = SandboxMessage.objects.get(private_reply_to=comment)
        assert sent.text == "Hi @ana!"
        action = Action.all_workspaces.get(action_type="private_reply")
        assert action.state == ActionState.SUCCEEDED

        # Outcome unknown (a timeout after sending): the reconciler finds the message, nothing is sent twice.
        Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.UNKNOWN, started_at=timezone.now())
        assert actions_reconcile_unknown(worker_id="t", now=timezone.now()) == 1
        action.refresh_from_db()
        assert action.state == ActionState.SUCCEEDED and action.result["reconciled"] is True
        assert SandboxMessage.objects.filter(private_reply_to=comment).count() == 1

        delivery = WebhookDelivery.all_workspaces.get(event_kind="new_lead")
        assert delivery.state == "succeeded"
        assert b'"username":"ana"' in receiver.requests[0].body
    finally:
        receiver.stop()


def test_hide_then_unhide_from_the_review_list(connected: dict[str, Any]) -> None:
    client = connected["client"]
    add_rule(client, connected["account"], keywords="refund", action_hide="on", action_flag="on")
    comment = sandbox_comment_post(media=connected["media"], from_username="bob", text="I want a REFUND")
    dispatch_until_idle()
    comment.refresh_from_db()
    assert comment.hidden is True

    stored = Comment.all_workspaces.get(ig_comment_id=comment.comment_id)
    assert stored.review_state == ReviewState.FLAGGED
    page = client.get(reverse("comment_review_list")).content.decode()
    assert "I want a REFUND" in page and 'data-testid="review-row"' in page

    response = client.post(reverse("comment_review", args=[stored.pk]), {"decision": "unhide"})
    assert response.status_code == 302
    dispatch_until_idle()
    comment.refresh_from_db()
    assert comment.hidden is False
    assert 'data-testid="review-empty"' in client.get(reverse("comment_review_list")).content.decode()

    # Reconciling a hide reads the comment's hidden state: now unhidden, so the hide did not happen.
    hide = Action.all_workspaces.get(action_type="hide_comment")
    Action.all_workspaces.filter(pk=hide.pk).update(state=ActionState.UNKNOWN)
    actions_reconcile_unknown(worker_id="t", now=timezone.now())
    hide.refresh_from_db()
    assert hide.state == ActionState.PLANNED  # Instagram shows it visible: sent again


def test_delete_and_its_reconciler(connected: dict[str, Any]) -> None:
    add_rule(connected["client"], connected["account"], trigger_type="regex", keywords=r"https?://", action_delete="on")
    spam = sandbox_comment_post(media=connected["media"], from_username="spammer", text="cheap likes http://x.example")
    kept = sandbox_comment_post(media=connected["media"], from_username="ana", text="lovely")
    dispatch_until_idle()
    assert not SandboxComment.objects.filter(pk=spam.pk).exists()
    assert SandboxComment.objects.filter(pk=kept.pk).exists()
    delete = Action.all_workspaces.get(action_type="delete_comment")
    Action.all_workspaces.filter(pk=delete.pk).update(state=ActionState.UNKNOWN)
    actions_reconcile_unknown(worker_id="t", now=timezone.now())
    delete.refresh_from_db()
    assert delete.state == ActionState.SUCCEEDED and delete.result["reconciled"] is True


def test_negative_comment_auto_hidden_and_a_public_reply_with_variables(connected: dict[str, Any]) -> None:
    client = connected["client"]
    account = connected["account"]
    response = client.post(
        reverse("comment_settings", args=[account.pk]),
        {"match_mode": "first", "auto_hide_negative": "on", "auto_hide_threshold": "-0.5"},
    )
    assert response.status_code == 302
    add_rule(client, account, keywords="cake", reply_templates="Thanks {username}! {post_caption}")
    angry = sandbox_comment_post(media=connected["media"], from_username="troll", text="Awful, disgusting, I hate you")
    happy = sandbox_comment_post(media=connected["media"], from_username="ana", text="Great cake!")
    dispatch_until_idle()
    angry.refresh_from_db()
    assert angry.hidden is True
    reply = SandboxComment.objects.get(parent=happy, via_api=True)
    assert reply.text == f"Thanks @ana! {connected['media'].caption}".strip()
    detail = client.get(reverse("comment_detail", args=[Comment.all_workspaces.get(ig_comment_id=angry.comment_id).pk]))
    assert "negative sentiment (auto-hide)" in detail.content.decode()


def test_the_rule_form_lists_the_accounts_posts_and_refuses_a_bad_regex(connected: dict[str, Any]) -> None:
    client = connected["client"]
    account = connected["account"]
    page = client.get(reverse("rule_create", args=[account.pk])).content.decode()
    assert connected["media"].media_id in page
    response = client.post(
        reverse("rule_create", args=[account.pk]),
        {"name": "bad", "trigger_type": "regex", "keywords": "(price", "scope": "all_posts", "reply_templates": "x"},
    )
    assert response.status_code == 200
    assert "This is not a valid regular expression (RE2 syntax): missing ): (price." in response.content.decode()
    response = client.post(
        reverse("rule_create", args=[account.pk]),
        {"name": "chosen", "keywords": "price", "scope": "chosen_posts", "reply_templates": "x"},
    )
    assert "Choose at least one post." in response.content.decode()
    response = client.post(
        reverse("rule_create", args=[account.pk]),
        {
            "name": "chosen",
            "keywords": "price",
            "scope": "chosen_posts",
            "posts": [connected["media"].media_id],
            "reply_templates": "x",
            "priority": 5,
        },
    )
    assert response.status_code == 302
    rule = account.comment_rules.get(name="chosen")
    assert rule.media_ids == [connected["media"].media_id]
