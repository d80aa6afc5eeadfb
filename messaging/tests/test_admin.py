"""The inbox in the operators' admin: lists and pages open, nothing can be added or changed by hand."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from conftest import log_into_admin
from messaging.models import Message, MessageDirection, Note


def test_operators_can_look_but_not_write(client: Client, make_conversation, make_user) -> None:
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    log_into_admin(client, operator)
    conversation = make_conversation(last_inbound_at=timezone.now())
    message = Message.all_workspaces.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        account=conversation.account,
        mid="m-1",
        direction=MessageDirection.INBOUND,
        text="Do you ship to Lyon?",
    )
    Note.all_workspaces.create(workspace_id=conversation.workspace_id, conversation=conversation, text="VIP")

    for name, obj in (("conversation", conversation), ("message", message)):
        changelist = client.get(reverse(f"admin:messaging_{name}_changelist"), {"q": "Lyon"})
        assert changelist.status_code == 200
        page = client.get(reverse(f"admin:messaging_{name}_change", args=[obj.pk]))
        assert page.status_code == 200
        assert client.get(reverse(f"admin:messaging_{name}_add")).status_code == 403
    detail = client.get(reverse("admin:messaging_conversation_change", args=[conversation.pk])).content.decode()
    assert "Do you ship to Lyon?" in detail and "VIP" in detail


def test_automation_is_visible_to_operators_read_only(client: Client, make_conversation) -> None:
    from messaging.models import ConversationEvent, DmRule, Flow, FlowVersion, MessagingSettings

    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    log_into_admin(client, operator)
    conversation = make_conversation(last_inbound_at=timezone.now())
    workspace_id, account = conversation.workspace_id, conversation.account
    flow = Flow.all_workspaces.create(workspace_id=workspace_id, account=account, name="Orders", keywords="order")
    FlowVersion.all_workspaces.create(workspace_id=workspace_id, flow=flow, number=1, steps=[{"id": "a"}])
    DmRule.all_workspaces.create(workspace_id=workspace_id, account=account, name="Hi", reply_templates="x")
    ConversationEvent.all_workspaces.create(workspace_id=workspace_id, conversation=conversation, kind="hand_over")
    config = MessagingSettings.all_workspaces.create(workspace_id=workspace_id, ai_api_key_encrypted="secret-cipher")
    for name in ("flow", "dmrule", "flowrun", "conversationevent", "messagingsettings"):
        assert client.get(reverse(f"admin:messaging_{name}_changelist")).status_code == 200
        assert client.get(reverse(f"admin:messaging_{name}_add")).status_code == 403
    assert client.get(reverse("admin:messaging_flow_change", args=[flow.pk])).status_code == 200
    settings_page = client.get(reverse("admin:messaging_messagingsettings_change", args=[config.pk]))
    assert settings_page.status_code == 200 and "secret-cipher" not in settings_page.content.decode()
