"""The messages handler, the messaging windows and a person's reply on the ledger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import InstagramAccount, Membership, Workspace
from actions.models import Action, ActionState, ActionType
from instagram.models import InboundEventState
from messaging.models import Conversation, ConversationState, Message, MessageDirection
from messaging.services import (
    ReplyRefused,
    conversation_assign,
    conversation_reply,
    messaging_event_handle,
    reply_window,
)
from messaging.tests.conftest import FOLLOWER_ID, deliver, message_item

pytestmark = pytest.mark.usefixtures("in_workspace")


def test_a_received_message_opens_a_conversation_once(account: InstagramAccount) -> None:
    sent_at = timezone.now() - timedelta(minutes=3)
    event = deliver(account, message_item(account, mid="m-1", text="Do you ship to Lyon?", at=sent_at))

    assert event.state == InboundEventState.PROCESSED
    assert event.outcome.startswith("received")
    conversation = Conversation.objects.get()
    assert conversation.participant_igsid == FOLLOWER_ID
    assert conversation.state == ConversationState.AUTOMATED
    assert conversation.last_inbound_at is not None
    assert conversation.last_inbound_at == conversation.last_message_at
    assert abs(conversation.last_inbound_at - sent_at) < timedelta(milliseconds=1)
    assert conversation.last_message_preview == "Do you ship to Lyon?"
    assert conversation.awaits_answer
    message = Message.objects.get()
    assert (message.direction, message.text, message.mid, message.inbound_event_id) == (
        MessageDirection.INBOUND,
        "Do you ship to Lyon?",
        "m-1",
        event.pk,
    )

    # A task that runs twice (a worker died after the handler) stores nothing new.
    result = messaging_event_handle(event)
    assert result.outcome == "already stored"
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_a_second_message_joins_the_conversation_and_reopens_a_closed_one(account: InstagramAccount) -> None:
    deliver(account, message_item(account, mid="m-1", text="hi", at=timezone.now() - timedelta(hours=2)))
    Conversation.objects.update(state=ConversationState.CLOSED)
    deliver(account, message_item(account, mid="m-2", text="still there?"))
    conversation = Conversation.objects.get()
    assert conversation.state == ConversationState.AUTOMATED
    assert conversation.last_message_preview == "still there?"
    assert list(conversation.messages.values_list("mid", flat=True)) == ["m-1", "m-2"]


def test_an_older_message_arriving_late_does_not_move_the_conversation_back(account: InstagramAccount) -> None:
    now = timezone.now()
    deliver(account, message_item(account, mid="new", text="second", at=now))
    deliver(account, message_item(account, mid="old", text="first", at=now - timedelta(minutes=5)))
    conversation = Conversation.objects.get()
    assert conversation.last_message_preview == "second"
    assert conversation.last_inbound_at is not None
    assert abs(conversation.last_inbound_at - now) < timedelta(milliseconds=1)
    assert [m.text for m in conversation.messages.order_by("created_at")] == ["first", "second"]


def test_an_echo_from_another_tool_is_stored_as_the_accounts_message(account: InstagramAccount) -> None:
    deliver(account, message_item(account, mid="m-1", text="hi"))
    event = deliver(account, message_item(account, mid="echo-1", text="Answered from the app", echo=True))

    assert event.outcome == "sent by the account outside InstaForge (echo)"
    echo = Message.objects.get(mid="echo-1")
    assert echo.direction == MessageDirection.OUTBOUND
    assert echo.is_echo and echo.action is None and echo.sent_by is None
    conversation = Conversation.objects.get()
    assert conversation.participant_igsid == FOLLOWER_ID  # the recipient of an echo is the person
    assert not conversation.awaits_answer
    assert conversation.last_inbound_at is not None and conversation.last_inbound_at < echo.created_at


def test_the_echo_of_our_own_reply_is_not_stored_twice(account: InstagramAccount, make_user) -> None:
    deliver(account, message_item(account, mid="m-1", text="price?"))
    conversation = Conversation.objects.get()
    reply = conversation_reply(conversation_id=conversation.pk, author=make_user(), text="2.50 €", token="a" * 32)
    assert reply.action is not None
    # The dispatcher sent it and recorded Instagram's answer.
    Action.objects.filter(pk=reply.action.pk).update(
        state=ActionState.SUCCEEDED, result={"recipient_id": FOLLOWER_ID, "message_id": "sent-mid"}
    )

    event = deliver(account, message_item(account, mid="sent-mid", text="2.50 €", echo=True))

    assert event.outcome == "echo of a reply sent from InstaForge"
    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).count() == 1
    reply.refresh_from_db()
    assert reply.mid == "sent-mid" and not reply.is_echo


def test_an_echo_that_overtakes_the_send_answer_still_finds_our_reply(account: InstagramAccount, make_user) -> None:
    deliver(account, message_item(account, mid="m-1", text="price?"))
    conversation = Conversation.objects.get()
    reply = conversation_reply(conversation_id=conversation.pk, author=make_user(), text="2.50 €", token="b" * 32)
    assert reply.action is not None
    Action.objects.filter(pk=reply.action.pk).update(state=ActionState.SENDING)  # no answer recorded yet

    deliver(account, message_item(account, mid="sent-mid", text="2.50 €", echo=True))

    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).count() == 1
    reply.refresh_from_db()
    assert reply.mid == "sent-mid"


def test_a_deleted_message_is_marked_and_blanked(account: InstagramAccount) -> None:
    deliver(account, message_item(account, mid="m-1", text="my phone is 555-0100"))
    event = deliver(account, message_item(account, mid="m-1", deleted=True))

    assert event.outcome == "marked deleted"
    message = Message.objects.get()
    assert message.is_deleted and message.deleted_at is not None
    assert message.text == ""
    assert Conversation.objects.get().last_message_preview == "(message deleted)"
    assert messaging_event_handle(event).outcome == "already marked deleted"


def test_a_deletion_that_arrives_first_keeps_the_late_original_out(account: InstagramAccount) -> None:
    deliver(account, message_item(account, mid="m-1", deleted=True))
    event = deliver(account, message_item(account, mid="m-1", text="oops"))
    assert event.outcome == "already stored"
    message = Message.objects.get()
    assert message.is_deleted and message.text == ""


@pytest.mark.parametrize(
    ("item", "outcome"),
    [
        ({"reaction": {"mid": "m-1", "action": "react", "reaction": "love", "emoji": "❤️"}}, "a reaction"),
        ({"read": {"mid": "m-1"}}, "a read receipt"),
    ],
)
def test_reactions_and_read_receipts_are_acknowledged_and_ignored(
    account: InstagramAccount, item: dict, outcome: str
) -> None:
    event = deliver(
        account,
        {"sender": {"id": FOLLOWER_ID}, "recipient": {"id": account.ig_user_id}, "timestamp": 1, **item},
    )
    assert event.state == InboundEventState.IGNORED
    assert event.outcome.startswith(outcome)
    assert not Conversation.objects.exists()


# --- the windows ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since_their_message", "allowed", "human_agent"),
    [
        (timedelta(hours=1), True, False),
        (timedelta(hours=23, minutes=59), True, False),
        (timedelta(hours=30), True, True),
        (timedelta(days=6, hours=23), True, True),
        (timedelta(days=8), False, False),
        (None, False, False),
    ],
)
def test_reply_window(since_their_message: timedelta | None, allowed: bool, human_agent: bool) -> None:
    now = timezone.now()
    conversation = Conversation(last_inbound_at=now - since_their_message if since_their_message else None)
    window = reply_window(conversation=conversation, now=now)
    assert (window.allowed, window.human_agent) == (allowed, human_agent)
    assert window.explanation


@pytest.mark.parametrize(
    ("since_their_message", "human_agent"),
    [(timedelta(hours=1), False), (timedelta(hours=30), True), (timedelta(days=8), None)],
)
def test_a_persons_reply_follows_the_window(
    make_conversation, make_user, since_their_message: timedelta, human_agent: bool | None
) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now() - since_their_message)
    author = make_user()
    if human_agent is None:
        with pytest.raises(ReplyRefused, match="7 days"):
            conversation_reply(conversation_id=conversation.pk, author=author, text="Sorry!", token="c" * 32)
        assert not Action.objects.exists() and not Message.objects.exists()
        return
    message = conversation_reply(conversation_id=conversation.pk, author=author, text="Sorry!", token="c" * 32)
    action = Action.objects.get()
    assert message.action == action and message.sent_by == author
    assert action.action_type == ActionType.DM and action.state == ActionState.PLANNED
    assert action.payload == {
        "recipient_id": conversation.participant_igsid,
        "message": "Sorry!",
        "human_agent": human_agent,
        "standard_window_until": (conversation.last_inbound_at + timedelta(hours=24)).isoformat(),
        "conversation_id": conversation.pk,
        "sent_by": author.pk,
    }
    assert (action.source_kind, action.source_id) == ("conversation", str(conversation.pk))


def test_the_same_form_submitted_twice_plans_one_message(make_conversation, make_user) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    author = make_user()
    first = conversation_reply(conversation_id=conversation.pk, author=author, text="On its way", token="d" * 32)
    again = conversation_reply(conversation_id=conversation.pk, author=author, text="On its way", token="d" * 32)
    other = conversation_reply(conversation_id=conversation.pk, author=author, text="On its way", token="e" * 32)
    assert first == again != other
    assert Action.objects.count() == 2 and Message.objects.count() == 2


def test_an_empty_or_too_long_reply_is_refused(make_conversation, make_user) -> None:
    conversation = make_conversation(last_inbound_at=timezone.now())
    for text, why in (("   ", "Write a message first"), ("x" * 1001, "1,000 bytes"), ("😊" * 300, "1,200")):
        with pytest.raises(ReplyRefused, match=why):
            conversation_reply(conversation_id=conversation.pk, author=make_user(), text=text, token="f" * 32)
    assert not Action.objects.exists()


def test_only_a_member_of_the_workspace_can_be_assigned(
    make_conversation, make_workspace, workspace: Workspace
) -> None:
    conversation = make_conversation()
    own = Membership.all_workspaces.get(workspace=workspace)
    assert conversation_assign(conversation=conversation, membership=own).assigned_to == own
    stranger = Membership.all_workspaces.get(workspace=make_workspace("Other"))
    with pytest.raises(ValueError):
        conversation_assign(conversation=conversation, membership=stranger)
    assert Conversation.objects.get().assigned_to == own


def test_attachments_are_kept_with_safe_links_only(account: InstagramAccount) -> None:
    item = message_item(account, mid="m-1")
    item["message"]["attachments"] = [
        {"type": "image", "payload": {"url": "https://cdn.example/photo.jpg"}},
        {"type": "share", "payload": {"url": "javascript:alert(1)"}},
    ]
    deliver(account, item)
    message = Message.objects.get()
    assert [(a["type"], a["url"]) for a in message.attachments] == [
        ("image", "https://cdn.example/photo.jpg"),
        ("share", None),
    ]
    assert Conversation.objects.get().last_message_preview == "[image, share]"
