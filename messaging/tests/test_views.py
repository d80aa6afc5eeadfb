"""The inbox pages: the list (filters, bounded queries), the thread, answering, state, assignment and notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import InstagramAccount, Membership, Workspace
from actions.models import Action, ActionState
from messaging.models import Conversation, ConversationState, Message, MessageDirection, Note


@pytest.fixture
def owner(workspace: Workspace):
    return Membership.all_workspaces.select_related("user").get(workspace=workspace).user


@pytest.fixture
def logged_in(client: Client, owner) -> Client:
    client.force_login(owner)
    return client


def add_message(
    conversation: Conversation, text: str, *, direction: str = MessageDirection.INBOUND, **fields
) -> Message:
    return Message.all_workspaces.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        account=conversation.account,
        mid=f"mid-{conversation.pk}-{Message.all_workspaces.count()}",
        direction=direction,
        text=text,
        **fields,
    )


def test_the_list_shows_conversations_most_recent_first(logged_in: Client, make_conversation) -> None:
    now = timezone.now()
    older = make_conversation(last_inbound_at=now - timedelta(hours=3), participant_username="croissant_lover")
    newer = make_conversation(
        last_inbound_at=now - timedelta(minutes=1), participant_username="baguette_fan", last_message_preview="hello?"
    )
    make_conversation(participant_username="no_messages_yet")  # e.g. only a deletion was received
    add_message(older, "Do you deliver?")
    add_message(newer, "hello?")
    page = logged_in.get(reverse("conversation_list")).content.decode()
    assert page.index("@baguette_fan") < page.index("@croissant_lover") < page.index("@no_messages_yet")
    assert "hello?" in page


def test_search_and_filters(logged_in: Client, make_conversation, owner) -> None:
    first = make_conversation(participant_username="croissant_lover", last_inbound_at=timezone.now())
    second = make_conversation(
        participant_username="baguette_fan", state=ConversationState.WAITING, last_inbound_at=timezone.now()
    )
    add_message(first, "Do you deliver to Lyon?")
    add_message(second, "Gluten free?")
    Conversation.all_workspaces.filter(pk=second.pk).update(assigned_to=Membership.all_workspaces.get(user=owner))

    def usernames(**query: str) -> set[str]:
        response = logged_in.get(reverse("conversation_list"), query)
        return {c.participant_username for c in response.context["conversations"]}

    assert usernames() == {"croissant_lover", "baguette_fan"}
    assert usernames(q="lyon") == {"croissant_lover"}
    assert usernames(q="@baguette") == {"baguette_fan"}
    assert usernames(state="waiting") == {"baguette_fan"}
    assert usernames(assigned="me") == {"baguette_fan"}
    assert usernames(assigned="none") == {"croissant_lover"}
    assert usernames(q="nothing like this") == set()


def test_the_list_uses_a_bounded_number_of_queries(
    logged_in: Client, make_conversation, django_assert_max_num_queries
) -> None:
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as context:
            assert logged_in.get(reverse("conversation_list"), {"q": "e"}).status_code == 200
        return len(context.captured_queries)

    make_conversation(last_inbound_at=timezone.now(), last_message_preview="hello")
    count_queries()  # the first request of a session also writes the session
    few = count_queries()
    for _ in range(30):
        conversation = make_conversation(last_inbound_at=timezone.now(), last_message_preview="hello")
        add_message(conversation, "hello")
    assert count_queries() == few
    with django_assert_max_num_queries(9):  # + the "waiting for a person" count, + the pager's COUNT
        logged_in.get(reverse("conversation_list"))


def test_the_thread_uses_a_bounded_number_of_queries(
    logged_in: Client, make_conversation, owner, django_assert_max_num_queries
) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    for number in range(20):
        add_message(conversation, f"question {number}")
        action = Action.all_workspaces.create(
            workspace_id=conversation.workspace_id,
            account=conversation.account,
            action_type="dm",
            idempotency_key=f"k{number}",
            payload={"message": "answer"},
        )
        add_message(conversation, "answer", direction=MessageDirection.OUTBOUND, action=action, sent_by=owner)
        Note.all_workspaces.create(
            workspace_id=conversation.workspace_id, conversation=conversation, author=owner, text="n"
        )
    url = reverse("conversation_detail", args=[conversation.pk])
    logged_in.get(url)  # the first request of a session also writes the session
    # Session, user, membership (twice), accounts in error; the conversation, its thread, the gate's
    # decisions, notes, members, events and flow runs.
    with django_assert_max_num_queries(12):
        response = logged_in.get(url)
    assert response.content.decode().count('data-testid="message-ledger-state"') == 20


def test_a_reply_is_planned_once_and_shows_its_ledger_state(logged_in: Client, make_conversation) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now() - timedelta(hours=1))
    url = reverse("conversation_detail", args=[conversation.pk])
    response = logged_in.get(url)
    token = response.context["reply_form"]["token"].value()
    assert "a normal message" in response.content.decode()

    for _ in range(2):  # a double click
        response = logged_in.post(
            reverse("conversation_reply", args=[conversation.pk]), {"text": "Yes!", "token": token}
        )
        assert response.status_code == 302
    action = Action.all_workspaces.get()
    assert action.payload["human_agent"] is False

    Action.all_workspaces.filter(pk=action.pk).update(last_reason="cooldown: 120 s between dms")
    page = logged_in.get(url).content.decode()
    assert "Deferred" in page and "cooldown: 120 s between dms" in page
    assert reverse("action_detail", args=[action.pk]) in page
    # ... and the ledger entry leads back to the conversation that planned it.
    assert url in logged_in.get(reverse("action_detail", args=[action.pk])).content.decode()

    Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.SUCCEEDED)
    assert ">Sent<" in logged_in.get(url).content.decode()
    Action.all_workspaces.filter(pk=action.pk).update(state=ActionState.FAILED, last_reason="outside the window")
    page = logged_in.get(url).content.decode()
    assert "Failed" in page and "outside the window" in page


def test_the_page_says_when_the_human_agent_tag_applies(logged_in: Client, make_conversation) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now() - timedelta(hours=30))
    page = logged_in.get(reverse("conversation_detail", args=[conversation.pk]))
    assert "HUMAN_AGENT" in page.content.decode()
    token = page.context["reply_form"]["token"].value()
    logged_in.post(
        reverse("conversation_reply", args=[conversation.pk]), {"text": "Sorry for the wait", "token": token}
    )
    assert Action.all_workspaces.get().payload["human_agent"] is True


def test_after_seven_days_the_page_refuses_with_a_clear_message(logged_in: Client, make_conversation) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now() - timedelta(days=8))
    page = logged_in.get(reverse("conversation_detail", args=[conversation.pk])).content.decode()
    assert "More than 7 days have passed" in page
    assert 'data-testid="reply-form"' not in page
    response = logged_in.post(
        reverse("conversation_reply", args=[conversation.pk]), {"text": "Hello?", "token": "a" * 32}
    )
    assert response.status_code == 200
    assert "More than 7 days have passed" in response.content.decode()
    assert not Action.all_workspaces.exists()


def test_an_invalid_reply_form_is_shown_again(logged_in: Client, make_conversation) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    response = logged_in.post(reverse("conversation_reply", args=[conversation.pk]), {"text": "", "token": "nope"})
    assert response.status_code == 200
    assert not Action.all_workspaces.exists()


def test_state_assignment_and_notes(logged_in: Client, make_conversation, owner, make_workspace) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    url = reverse("conversation_detail", args=[conversation.pk])

    assert (
        logged_in.post(reverse("conversation_state", args=[conversation.pk]), {"state": "waiting"}).status_code == 302
    )
    logged_in.post(reverse("conversation_state", args=[conversation.pk]), {"state": "bogus"})
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.WAITING

    membership = Membership.all_workspaces.get(user=owner)
    logged_in.post(reverse("conversation_assign", args=[conversation.pk]), {"membership_id": membership.pk})
    conversation.refresh_from_db()
    assert conversation.assigned_to == membership
    stranger = Membership.all_workspaces.get(workspace=make_workspace("Other"))
    response = logged_in.post(reverse("conversation_assign", args=[conversation.pk]), {"membership_id": stranger.pk})
    assert response.status_code == 404
    logged_in.post(reverse("conversation_assign", args=[conversation.pk]), {"membership_id": ""})
    conversation.refresh_from_db()
    assert conversation.assigned_to is None

    logged_in.post(reverse("conversation_note", args=[conversation.pk]), {"text": "VIP customer"})
    logged_in.post(reverse("conversation_note", args=[conversation.pk]), {"text": "  "})
    assert list(Note.all_workspaces.values_list("text", flat=True)) == ["VIP customer"]
    assert "VIP customer" in logged_in.get(url).content.decode()


def test_the_nav_links_to_the_inbox(logged_in: Client, account: InstagramAccount) -> None:
    page = logged_in.get(reverse("dashboard")).content.decode()
    assert 'data-testid="nav-inbox"' in page and reverse("conversation_list") in page
