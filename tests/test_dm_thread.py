"""The inbox's thread, end to end over real HTTP, with no mocks.

A follower DMs the account in the sandbox; the sandbox delivers the signed
``messages`` webhook to InstaForge's live server; the conversation appears in
the inbox; a member answers (submitting twice); the reply is planned once on
the ledger, passes the safety gate, and the dispatcher sends it to the sandbox,
whose echo is matched to it instead of being stored again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from actions.dispatcher.recovery import actions_reconcile_unknown
from actions.models import Action, ActionState, ActionType
from actions.services import action_plan
from messaging.models import Conversation, Message, MessageDirection
from sandbox.models import SandboxAccount, SandboxMessage, SandboxWebhookDelivery
from sandbox.selectors import calls_count
from sandbox.services import sandbox_follower_message, sandbox_message_send, sandbox_settings_update
from sandbox.testing import SandboxServer
from tests.test_comment_thread import connect_through_instagram_login, dispatch_until_idle, skip_warm_up


@pytest.fixture
def member(client: Client, make_user, make_workspace) -> dict[str, Any]:
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    return {"user": user, "workspace": workspace}


def test_a_follower_dm_is_answered_from_the_inbox_exactly_once(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer, live_server, settings
) -> None:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"
    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    sandbox_settings_update(message_echoes=True)  # as Meta does: what the API sends comes back as an echo

    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="Open on Sunday?")
    assert SandboxWebhookDelivery.objects.get().status == 200

    # The inbox shows it, with the person's username read from the User Profile API.
    inbox = client.get(reverse("conversation_list")).content.decode()
    assert "Open on Sunday?" in inbox
    assert "@hungry_fan" in inbox
    conversation = Conversation.all_workspaces.get()

    page = client.get(reverse("conversation_detail", args=[conversation.pk]))
    assert "a normal message" in page.content.decode()
    token = page.context["reply_form"]["token"].value()
    for _ in range(2):  # a double submit
        client.post(reverse("conversation_reply", args=[conversation.pk]), {"text": "Yes, 8 to 13!", "token": token})

    dispatch_until_idle()

    action = Action.all_workspaces.get()
    assert action.action_type == ActionType.DM and action.state == ActionState.SUCCEEDED
    sent = SandboxMessage.objects.filter(conversation__account=sandbox_account, from_follower=False)
    assert [message.text for message in sent] == ["Yes, 8 to 13!"]
    assert calls_count(method="POST", path_suffix="/messages", account=sandbox_account) == 1
    # The echo came back and was recognised as our reply: one outbound message, with Instagram's id.
    outbound = Message.all_workspaces.get(direction=MessageDirection.OUTBOUND)
    assert outbound.mid == sent.get().mid == action.result["message_id"]
    assert not outbound.is_echo and outbound.sent_by == member["user"]

    thread = client.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert "Yes, 8 to 13!" in thread and ">Sent<" in thread
    assert reverse("action_detail", args=[action.pk]) in thread


def test_a_dm_whose_outcome_is_unknown_is_reconciled_against_the_conversation(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer
) -> None:
    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    sandbox_settings_update(message_echoes=False)
    follower = sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="hi").conversation
    started = timezone.now() - timedelta(seconds=5)

    def unknown_dm(text: str) -> Action:
        action, _ = action_plan(
            account=account,
            action_type=ActionType.DM,
            idempotency_key=f"test:{text}",
            payload={"recipient_id": follower.follower_id, "message": text, "human_agent": False},
        )
        Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.UNKNOWN, started_at=started)
        return action

    arrived, lost = unknown_dm("It did arrive"), unknown_dm("It never arrived")
    delivered = sandbox_message_send(
        account=sandbox_account, recipient_id=follower.follower_id, message={"text": "It did arrive"}
    )

    assert actions_reconcile_unknown(worker_id="test", now=timezone.now()) == 2
    arrived.refresh_from_db()
    lost.refresh_from_db()
    assert arrived.state == ActionState.SUCCEEDED and arrived.result["message_id"] == delivered.mid
    assert lost.state == ActionState.PLANNED  # confirmed missing: sent again by the next pass


def test_a_persons_reply_held_past_the_24_hour_window_goes_with_the_human_agent_tag(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer
) -> None:
    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    sandbox_settings_update(message_echoes=False)
    follower = sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="hi").conversation
    their_message = timezone.now() - timedelta(hours=30)
    type(follower).objects.filter(pk=follower.pk).update(last_follower_message_at=their_message)
    window_closed = (their_message + timedelta(hours=24)).isoformat()

    def planned_dm(text: str, **payload: Any) -> Action:
        action, _ = action_plan(
            account=account,
            action_type=ActionType.DM,
            idempotency_key=f"test:{text}",
            payload={"recipient_id": follower.follower_id, "message": text, "human_agent": False, **payload},
        )
        return action

    # Planned while the window was open, sent after it closed: a person wrote it, so it goes tagged.
    by_a_person = planned_dm("Sorry for the wait", standard_window_until=window_closed, sent_by=member["user"].pk)
    dispatch_until_idle()
    by_a_person.refresh_from_db()
    assert by_a_person.state == ActionState.SUCCEEDED
    assert by_a_person.result["sent_with_human_agent_tag"] is True
    Action.all_workspaces.filter(pk=by_a_person.pk).update(started_at=timezone.now() - timedelta(hours=1))

    # Without a person behind it, no tag: Instagram (the sandbox) refuses it outside the window.
    automated = planned_dm("Automated hello", standard_window_until=window_closed)
    dispatch_until_idle()
    automated.refresh_from_db()
    assert automated.state == ActionState.FAILED
    assert "outside of allowed window" in automated.last_reason
    assert SandboxMessage.objects.filter(from_follower=False).count() == 1
