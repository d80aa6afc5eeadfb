"""Another workspace can neither see nor change a conversation: every inbox URL answers 404 and changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Workspace
from actions.models import Action
from messaging.models import Conversation, ConversationState, Message, Note


@pytest.fixture
def stranger(make_user, make_workspace):
    user = make_user("stranger@example.com")
    make_workspace("Elsewhere", owner=user)
    return user


@pytest.fixture
def conversation(make_conversation) -> Conversation:
    conversation = make_conversation(
        last_inbound_at=timezone.now() - timedelta(minutes=5), last_message_preview="secret?"
    )
    Message.all_workspaces.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        account=conversation.account,
        mid="m-1",
        direction="in",
        text="secret?",
    )
    return conversation


def test_every_inbox_url_is_404_for_another_workspace(
    client: Client, stranger, conversation: Conversation, workspace: Workspace
) -> None:
    client.force_login(stranger)
    own_membership = Membership.all_workspaces.get(user=stranger)
    pk = conversation.pk
    requests = [
        ("get", "conversation_detail", {}),
        ("post", "conversation_reply", {"text": "hijack", "token": "a" * 32}),
        ("post", "conversation_state", {"state": ConversationState.CLOSED}),
        ("post", "conversation_assign", {"membership_id": own_membership.pk}),
        ("post", "conversation_note", {"text": "hijack"}),
    ]
    for method, name, data in requests:
        url = reverse(name, args=[pk])
        response = client.get(url) if method == "get" else client.post(url, data)
        assert response.status_code == 404, name
    conversation = Conversation.all_workspaces.get(pk=pk)
    assert (conversation.state, conversation.assigned_to_id) == (ConversationState.AUTOMATED, None)
    assert not Note.all_workspaces.exists()
    assert not Action.all_workspaces.exists()
    assert Message.all_workspaces.count() == 1


def test_the_inbox_list_shows_only_the_own_workspace(client: Client, stranger, conversation: Conversation) -> None:
    client.force_login(stranger)
    page = client.get(reverse("conversation_list"), {"q": "secret"}).content.decode()
    assert "secret?" not in page and str(conversation) not in page
    page = client.get(reverse("conversation_list")).content.decode()
    assert "secret?" not in page


def test_a_member_of_another_workspace_cannot_be_assigned(
    client: Client, conversation: Conversation, workspace: Workspace, stranger
) -> None:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    foreign = Membership.all_workspaces.get(user=stranger)
    response = client.post(reverse("conversation_assign", args=[conversation.pk]), {"membership_id": foreign.pk})
    assert response.status_code == 404
    assert Conversation.all_workspaces.get(pk=conversation.pk).assigned_to is None
