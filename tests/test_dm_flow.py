"""A flow end to end over real HTTP: a follower DMs in the sandbox, the flow asks with quick replies,
branches on the tapped button, waits for an answer across a worker restart, and completes.

Only the database survives the "restart": the follower's answer after it is
handled by fresh code paths that read the run's stored step and version.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from accounts.models import InstagramAccount
from accounts.tenancy import workspace_scope
from actions.models import Action, ActionState
from messaging.models import (
    AutomatedReply,
    Conversation,
    ConversationEvent,
    Flow,
    FlowRun,
    FlowRunStatus,
    Message,
    MessageDirection,
    TriggerKind,
)
from safety.services import policy_override_set
from sandbox.models import SandboxAccount, SandboxMessage
from sandbox.services import sandbox_follower_message, sandbox_settings_update
from sandbox.testing import SandboxServer
from tests.test_comment_thread import connect_through_instagram_login, dispatch_until_idle, skip_warm_up

ORDER_FLOW: list[dict[str, Any]] = [
    {
        "id": "how",
        "type": "ask",
        "text": "Hi {username}! Pickup or delivery?",
        "variable": "mode",
        "options": [{"title": "Pickup", "payload": "PICKUP"}, {"title": "Delivery", "payload": "DELIVERY"}],
    },
    {
        "id": "route",
        "type": "branch",
        "variable": "mode",
        "cases": [{"match": "PICKUP, collect", "goto": "pickup"}, {"match": "DELIVERY, deliver", "goto": "where"}],
    },
    {"id": "pickup", "type": "send_text", "text": "We are open 8 to 13. See you!"},
    {"id": "pickup-end", "type": "end"},
    {"id": "where", "type": "ask", "text": "What is your postcode?", "variable": "postcode"},
    {"id": "tag", "type": "add_tag", "tag": "lead"},
    {"id": "confirm", "type": "send_text", "text": "Thanks, we deliver to {postcode} tomorrow."},
]


@pytest.fixture
def member(client: Client, make_user, make_workspace) -> dict[str, Any]:
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    return {"user": user, "workspace": workspace}


def fast_dms(account: InstagramAccount) -> None:
    """No cooldowns or burst limit between DMs, so a flow's messages go out at once in the test."""
    policy_override_set(
        workspace_id=account.workspace_id,
        account_id=account.pk,
        values={"cooldowns.dm": 0, "counterpart_cooldowns.conversation": 0, "burst.per_account.window_seconds": 0},
        actor=None,
    )


def make_flow(account: InstagramAccount, steps: list[dict[str, Any]], **fields: Any) -> Flow:
    from messaging.automation import flow_save

    with workspace_scope(account.workspace_id):
        flow = Flow(workspace_id=account.workspace_id, account=account, name="Orders", **fields)
        flow, _ = flow_save(flow=flow, steps=steps)
    return flow


def sent_texts(sandbox_account: SandboxAccount) -> list[str]:
    return list(
        SandboxMessage.objects.filter(conversation__account=sandbox_account, from_follower=False)
        .order_by("created_at", "id")
        .values_list("text", flat=True)
    )


def test_a_three_step_flow_with_a_branch_runs_to_completion_across_a_worker_restart(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer, live_server, settings
) -> None:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"
    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    fast_dms(account)
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    sandbox_settings_update(message_echoes=True)
    flow = make_flow(account, ORDER_FLOW, trigger_kind=TriggerKind.KEYWORD, keywords="order, commande")

    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="I'd like to ORDER a cake")
    dispatch_until_idle()
    question = SandboxMessage.objects.get(from_follower=False)
    assert question.text == "Hi @hungry_fan! Pickup or delivery?"
    assert [reply["payload"] for reply in question.payload["quick_replies"]] == ["PICKUP", "DELIVERY"]
    run = FlowRun.all_workspaces.get()
    assert (run.status, run.step_id, run.version.number) == (FlowRunStatus.WAITING, "how", 1)

    # The follower taps "Delivery": the branch goes to the postcode question.
    sandbox_follower_message(
        account=sandbox_account, from_username="hungry_fan", text="Delivery", quick_reply_payload="DELIVERY"
    )
    dispatch_until_idle()
    assert sent_texts(sandbox_account)[-1] == "What is your postcode?"
    run.refresh_from_db()
    assert (run.status, run.step_id, run.variables) == (FlowRunStatus.WAITING, "where", {"mode": "DELIVERY"})

    # A worker restart: nothing in memory survives, only the database. Meanwhile the flow is edited.
    connections.close_all()
    import messaging.analysis
    import messaging.automation

    importlib.reload(messaging.analysis)
    importlib.reload(messaging.automation)
    edited = [*ORDER_FLOW[:-1], {"id": "confirm", "type": "send_text", "text": "Version two says hi."}]
    with workspace_scope(account.workspace_id):
        messaging.automation.flow_save(flow=Flow.objects.get(pk=flow.pk), steps=edited)
    assert flow.versions.count() == 2

    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="75001")
    dispatch_until_idle()

    # The conversation finished on the version it started with, from the stored step.
    assert sent_texts(sandbox_account) == [
        "Hi @hungry_fan! Pickup or delivery?",
        "What is your postcode?",
        "Thanks, we deliver to 75001 tomorrow.",
    ]
    run.refresh_from_db()
    assert run.status == FlowRunStatus.COMPLETED and run.variables == {"mode": "DELIVERY", "postcode": "75001"}
    conversation = Conversation.all_workspaces.get()
    assert conversation.tags == ["lead"]
    kinds = list(ConversationEvent.all_workspaces.values_list("kind", flat=True))
    assert kinds == ["new_conversation", "new_lead", "flow_completed"]
    assert Action.all_workspaces.filter(state=ActionState.SUCCEEDED).count() == 3
    # The echoes of the flow's messages were matched to them, not stored again.
    outbound = Message.all_workspaces.filter(direction=MessageDirection.OUTBOUND)
    assert outbound.count() == 3 and all(message.mid and not message.is_echo for message in outbound)
    # Each automated message knows its flow, version and step.
    steps = list(AutomatedReply.all_workspaces.order_by("message__created_at").values_list("flow_step", flat=True))
    assert steps == ["how (ask)", "where (ask)", "confirm (send_text)"]
    versions = AutomatedReply.all_workspaces.values_list("flow_version__number", flat=True)
    assert set(versions) == {1}


def test_the_other_branch_and_a_flow_step_hand_over(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer, live_server, settings, mailoutbox
) -> None:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"
    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    fast_dms(account)
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    steps = [*ORDER_FLOW[:3], {"id": "person", "type": "hand_over"}, {"id": "never", "type": "send_text", "text": "x"}]
    make_flow(account, steps, trigger_kind=TriggerKind.KEYWORD, keywords="order")

    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="order")
    dispatch_until_idle()
    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="I will collect it")
    dispatch_until_idle()

    assert sent_texts(sandbox_account) == ["Hi @hungry_fan! Pickup or delivery?", "We are open 8 to 13. See you!"]
    conversation = Conversation.all_workspaces.get()
    assert conversation.state == "waiting"
    assert FlowRun.all_workspaces.get().status == FlowRunStatus.HANDED_OVER
    assert [mail.to for mail in mailoutbox] == [["owner@bakery.example"]]
    # Waiting for a person: automation stays quiet, even for a keyword.
    sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="order again")
    dispatch_until_idle()
    assert len(sent_texts(sandbox_account)) == 2


def test_an_automated_dm_held_past_the_window_is_never_sent_and_never_tagged(
    client: Client, member: dict[str, Any], sandbox_server: SandboxServer, webhook_receiver
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from actions.services import action_plan
    from sandbox.selectors import calls_count

    account = skip_warm_up(connect_through_instagram_login(client, "demo_bakery"))
    fast_dms(account)
    sandbox_account = SandboxAccount.objects.get(user_id=account.ig_user_id)
    follower = sandbox_follower_message(account=sandbox_account, from_username="hungry_fan", text="hi").conversation
    closed = (timezone.now() - timedelta(minutes=1)).isoformat()
    action, _ = action_plan(
        account=account,
        action_type="dm",
        idempotency_key="auto-late",
        # Even a payload asking for the tag: automation never gets it.
        payload={
            "recipient_id": follower.follower_id,
            "message": "Automated, too late",
            "human_agent": True,
            "automated": True,
            "standard_window_until": closed,
        },
    )
    dispatch_until_idle()
    action.refresh_from_db()
    assert action.state == ActionState.FAILED and "24-hour window closed" in action.last_reason
    assert calls_count(method="POST", path_suffix="/messages", account=sandbox_account) == 0

    # Inside the window, the same automated message goes out, without the tag.
    inside, _ = action_plan(
        account=account,
        action_type="dm",
        idempotency_key="auto-in-time",
        payload={
            "recipient_id": follower.follower_id,
            "message": "Automated, in time",
            "human_agent": True,
            "automated": True,
            "standard_window_until": (timezone.now() + timedelta(hours=23)).isoformat(),
        },
    )
    dispatch_until_idle()
    inside.refresh_from_db()
    assert inside.state == ActionState.SUCCEEDED
    sent = SandboxMessage.objects.get(text="Automated, in time")
    assert "tag" not in sent.payload and "quick_replies" not in sent.payload
