"""The inbox in the operators' admin: lists and pages open, nothing can be added or changed by hand."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from messaging.models import Message, MessageDirection, Note


def test_operators_can_look_but_not_write(client: Client, make_conversation, make_user) -> None:
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    client.force_login(operator)
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
