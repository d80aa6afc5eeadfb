"""Human timing end to end: an automated DM waits a drawn delay, and a typing indicator goes out just before it."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState, ActionType
from actions.services import action_plan
from actions.tests.conftest import Connected
from sandbox.models import SandboxCall, SandboxConversation, SandboxToken
from sandbox.services import sandbox_follower_message
from sandbox.testing import WebhookReceiver


def test_an_automated_dm_is_delayed_and_preceded_by_typing(
    connected: Connected, webhook_receiver: WebhookReceiver, settings
) -> None:
    settings.HUMAN_TIMING = True
    # The account also granted the messaging permission.
    SandboxToken.objects.filter(account=connected.sandbox_account).update(
        scopes="instagram_business_manage_comments,instagram_business_manage_messages"
    )
    sandbox_follower_message(account=connected.sandbox_account, from_username="fan", text="Is it in stock?")
    recipient = SandboxConversation.objects.get(account=connected.sandbox_account).follower_id
    planned_at = timezone.now()
    dm, _ = action_plan(
        account=connected.account,
        action_type=ActionType.DM,
        idempotency_key="auto-dm",
        payload={"recipient_id": recipient, "message": "Yes, in all sizes!"},
    )
    typing = Action.all_workspaces.get(action_type=ActionType.SENDER_ACTION)
    assert timedelta(seconds=4) <= dm.due_at - planned_at <= timedelta(seconds=25)
    assert typing.due_at == dm.due_at - timedelta(seconds=3)

    assert dispatch_once(worker_id="w") == 0  # nothing is due yet: the delay holds
    assert not SandboxCall.objects.filter(path__endswith="/messages").exists()

    dispatch_once(worker_id="w", now=dm.due_at + timedelta(seconds=1))  # time has come: typing, then the DM
    calls = list(SandboxCall.objects.filter(path__endswith="/messages").order_by("at", "id"))
    assert [call.status for call in calls] == [200, 200], [(call.params, call.response) for call in calls]
    assert "typing_on" in str(calls[0].params) and "Yes, in all sizes!" in str(calls[1].params)
    typing.refresh_from_db()
    dm.refresh_from_db()
    assert typing.state == dm.state == ActionState.SUCCEEDED
    assert typing.last_reason == "sent" and "typing indicator" in typing.decisions.get().reason
