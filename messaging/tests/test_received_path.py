"""A received DM's path in the worker (``messaging_event_handle``): its statements, and what the shorter path keeps.

The message is stored with its conversation (inserted already touched by it when new) and handed to the
automation as it is; its analysis and the reply planned from it commit together (docs/performance.md).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import InstagramAccount
from actions.models import Action, ActionType
from actions.services import action_plan
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import MessageEvent, event_parse
from instagram.services import webhook_parse, webhook_store
from messaging import automation, services
from messaging.automation import Inbound, message_automate
from messaging.models import (
    AutomatedReply,
    Conversation,
    ConversationEvent,
    ConversationState,
    DmRule,
    Intent,
    Message,
    MessageAnalysis,
    MessageDirection,
    TriggerKind,
)
from messaging.services import message_ingest, messaging_event_handle
from messaging.tests.conftest import FOLLOWER_ID, deliver, message_item, milliseconds
from safety.timing import typing_lead

pytestmark = pytest.mark.usefixtures("in_workspace")

# The conversation's and the message's columns the two ways of storing must agree on (ids and the moment a
# row is created aside).
CONVERSATION_FIELDS = (
    "participant_igsid",
    "participant_username",
    "state",
    "last_message_at",
    "last_inbound_at",
    "last_message_preview",
    "last_message_direction",
    "tags",
)
MESSAGE_FIELDS = ("mid", "direction", "text", "attachments", "is_echo", "is_deleted", "created_at")


def stored_event(account: InstagramAccount, item: dict[str, Any]) -> InboundEvent:
    """``item`` received by the webhook and stored, not yet handled (as a worker claims it, with its account)."""
    document = {
        "object": "instagram",
        "entry": [{"id": account.ig_user_id, "time": milliseconds(timezone.now()), "messaging": [item]}],
    }
    changes = webhook_parse(body=json.dumps(document).encode())
    with mock.patch("instagram.services.enqueue_coalesced"):  # stored only: the test hands it over itself
        webhook_store(changes=changes)
    return InboundEvent.objects.select_related("account").get(dedupe_key=changes[0].dedupe_key)


def keyword_rule(account: InstagramAccount) -> DmRule:
    return DmRule.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, name="Prices", keywords="price", reply_templates="2.50"
    )


# Read once per batch of events in the worker (``instaforge.batching``), not per message: not counted here.
CONFIGURATION = (
    "messaging_messagingsettings",
    "messaging_dmrule",
    "messaging_flow",
    "integrations_webhookendpoint",
)


def statements(account: InstagramAccount, item: dict[str, Any]) -> list[str]:
    """The statements handling ``item`` runs, each as its verb and table (``SELECT messaging_conversation``)."""
    event = stored_event(account, item)
    # The tests run tasks inline: the profile read a new conversation queues (with Redis, after the commit, no SQL)
    # would run inside the count.
    with (
        mock.patch("messaging.services.enqueue_coalesced_items"),
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as captured,
    ):
        result = messaging_event_handle(event)
    assert result.state == InboundEventState.PROCESSED, result.outcome
    labels = [label(query["sql"]) for query in captured.captured_queries]
    return [text for text in labels if text.split(" ")[-1] not in CONFIGURATION]


def label(sql: str) -> str:
    verb = sql.split(" ", 1)[0]
    if verb in ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', sql)
    return f"{verb} {table.group(1) if table else sql[:60]}"


def columns(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


@pytest.mark.django_db(transaction=True)
def test_a_dm_opening_a_conversation_and_answered_by_a_rule_takes_few_statements(
    account: InstagramAccount, settings
) -> None:
    settings.HUMAN_TIMING = True  # as in production: the reply has a typing indicator
    keyword_rule(account)
    # Read once per batch of events in the worker: read here before counting.
    automation.messaging_settings_get(workspace_id=account.workspace_id)
    item = message_item(account, mid="m-1", text="what is the price?")
    sql = statements(account, item)
    # Before: BEGIN, the conversation looked for locked, looked for by get_or_create, a savepoint, inserted, the
    # savepoint released, looked for locked again, the message looked for by its mid, inserted, the conversation
    # touched, COMMIT; the message read back, its analysis looked for; BEGIN, the analysis, the earlier messages
    # looked for, the event, COMMIT; the running flow looked for; BEGIN, the reply (below, with action_plan's
    # savepoint) and COMMIT. 29 in all on PostgreSQL with the typing indicator and the dispatchers' wake-up.
    reply = [
        # Its analysis was inserted by this transaction: no savepoint for the reply's key (it is new).
        "INSERT actions_action",
        *(["INSERT actions_action"] if typing_lead() else []),
        "INSERT messaging_message",
        "INSERT messaging_automatedreply",
        "UPDATE messaging_conversation",
    ]
    assert [text for text in sql if "pg_notify" not in text] == [
        "BEGIN",
        "SELECT messaging_conversation",  # locked, if it were there
        "INSERT messaging_conversation",  # with the message's last-message fields: no UPDATE follows
        "INSERT messaging_message",  # a conversation just created holds no message: its mid is not looked for
        # In the same transaction: the message is not read back, nor its analysis looked for.
        "INSERT messaging_messageanalysis",
        "INSERT messaging_conversationevent",  # new_conversation, without looking for earlier messages
        # No running flow looked for: nobody else sees the conversation yet.
        *reply,
        "COMMIT",
    ]
    # What it did: the same as the long way (the other tests of messaging/tests go through it too).
    why = AutomatedReply.all_workspaces.get()
    assert why.generator == "rule" and why.in_reply_to is not None and why.in_reply_to.mid == "m-1"
    assert Action.all_workspaces.filter(action_type=ActionType.DM).count() == 1
    assert Action.all_workspaces.filter(action_type=ActionType.SENDER_ACTION).count() == 1
    assert list(ConversationEvent.all_workspaces.values_list("kind", flat=True)) == ["new_conversation"]


@pytest.mark.django_db(transaction=True)
def test_a_dm_in_a_known_conversation_takes_few_statements(account: InstagramAccount) -> None:
    keyword_rule(account)
    automation.messaging_settings_get(workspace_id=account.workspace_id)
    deliver(account, message_item(account, mid="m-1", text="hello"))
    Conversation.objects.update(participant_username="fan")  # known: no profile read is queued
    sql = statements(account, message_item(account, mid="m-2", text="and the price?"))
    assert [text for text in sql if "pg_notify" not in text] == [
        "BEGIN",
        "SELECT messaging_conversation",  # locked
        "SELECT messaging_message",  # by its mid: a redelivery finds it here
        "INSERT messaging_message",
        "UPDATE messaging_conversation",  # its last message and the person's
        "INSERT messaging_messageanalysis",
        "SELECT messaging_message",  # an earlier message of the person's: not a new conversation
        "SELECT messaging_flowrun",
        "INSERT actions_action",
        *(["INSERT actions_action"] if typing_lead() else []),
        "INSERT messaging_message",
        "INSERT messaging_automatedreply",
        "UPDATE messaging_conversation",
        "COMMIT",
    ]
    assert list(ConversationEvent.all_workspaces.values_list("kind", flat=True)) == ["new_conversation"]
    assert Action.all_workspaces.filter(action_type=ActionType.DM).count() == 1


def test_a_conversation_inserted_already_touched_is_the_one_the_long_way_stores(
    account: InstagramAccount, make_account, workspace
) -> None:
    other = make_account(workspace)
    at = timezone.now()
    for echo in (False, True):
        mid = f"m-{echo}"
        fast_item = message_item(account, mid=mid, text="hi there " * 40, at=at, echo=echo, sender=f"7{echo:d}")
        slow_item = message_item(other, mid=mid, text="hi there " * 40, at=at, echo=echo, sender=f"7{echo:d}")
        fast, slow = (
            event_parse(field="messages", payload=item, entry_id=owner.ig_user_id, entry_time=at)
            for item, owner in ((fast_item, account), (slow_item, other))
        )
        assert isinstance(fast, MessageEvent) and isinstance(slow, MessageEvent)
        quick = services._message_store(account=account, event=fast, inbound_event=None)
        assert slow.timestamp is not None
        long = services._message_insert(
            account=other, event=slow, moment=slow.timestamp, inbound_event=None, trust_new_conversation=False
        )
        assert quick.created and quick.conversation_created and long.created and long.conversation_created
        assert quick.outcome == long.outcome
        assert quick.message is not None and long.message is not None
        assert columns(quick.message, MESSAGE_FIELDS) == columns(long.message, MESSAGE_FIELDS)
        stored = {
            name: columns(Conversation.objects.get(pk=message.conversation_id), CONVERSATION_FIELDS)
            for name, message in (("quick", quick.message), ("long", long.message))
        }
        assert stored["quick"] == stored["long"]
        assert Message.objects.get(pk=quick.message.pk).conversation_id == quick.message.conversation_id


def parsed(account: InstagramAccount, item: dict[str, Any]) -> MessageEvent:
    event = event_parse(field="messages", payload=item, entry_id=account.ig_user_id, entry_time=timezone.now())
    assert isinstance(event, MessageEvent)
    return event


def test_a_mid_another_conversation_holds_is_not_stored_twice(account: InstagramAccount) -> None:
    first, _ = message_ingest(account=account, event=parsed(account, message_item(account, mid="m-1", sender="111")))
    again, outcome = message_ingest(
        account=account, event=parsed(account, message_item(account, mid="m-1", sender="2"))
    )
    # The quick try (a new conversation) was rolled back; the long way found the message, as it always did.
    assert outcome == "already stored" and again == first
    assert Message.objects.count() == 1
    assert list(Conversation.objects.order_by("id").values_list("participant_igsid", "last_message_at")) == [
        ("111", first.created_at if first is not None else None),
        ("2", None),
    ]


def test_in_one_go_a_mid_another_conversation_holds_is_rolled_back_and_stored_the_long_way(
    account: InstagramAccount,
) -> None:
    keyword_rule(account)
    deliver(account, message_item(account, mid="m-1", text="price?", sender="111"))
    # The same mid from another person (never seen from Meta), as its own event.
    event = InboundEvent.objects.create(
        dedupe_key="same-mid-other-person",
        object_type="instagram",
        field="messaging",
        entry_id=account.ig_user_id,
        payload=message_item(account, mid="m-1", text="price?", sender="222"),
        workspace_id=account.workspace_id,
        account=account,
    )
    assert messaging_event_handle(event).outcome == "already stored"
    assert Message.objects.filter(direction=MessageDirection.INBOUND).count() == 1
    assert Action.objects.filter(action_type=ActionType.DM).count() == 1 and MessageAnalysis.objects.count() == 1


def test_a_conversation_another_worker_inserted_meanwhile_is_locked_and_used(account: InstagramAccount) -> None:
    existing = Conversation.objects.create(account=account, participant_igsid=FOLLOWER_ID, participant_username="fan")
    late = Conversation(workspace_id=account.workspace_id, account=account, participant_igsid=FOLLOWER_ID)
    assert services._conversation_insert(late) is False
    assert late.pk is None and Conversation.objects.get().participant_username == "fan"
    fresh = Conversation(workspace_id=account.workspace_id, account=account, participant_igsid="42")
    assert services._conversation_insert(fresh) is True
    assert Conversation.objects.get(participant_igsid="42").pk == fresh.pk != existing.pk


def test_a_redelivery_plans_nothing_more_and_the_message_id_entry_point_still_works(
    account: InstagramAccount,
) -> None:
    keyword_rule(account)
    event = deliver(account, message_item(account, mid="m-1", text="price please"))
    assert event.outcome == "received; rule “Prices”"
    assert messaging_event_handle(event).outcome == "already stored"
    # Another caller, by id: the message has its analysis, nothing is done again.
    message = Message.objects.get(direction=MessageDirection.INBOUND)
    assert message_automate(message_id=message.pk) == "already automated"
    assert Action.objects.filter(action_type=ActionType.DM).count() == 1
    assert AutomatedReply.objects.count() == 1 and MessageAnalysis.objects.count() == 1


def test_a_message_stored_then_automated_by_id_is_answered_once(account: InstagramAccount) -> None:
    keyword_rule(account)
    message, outcome = message_ingest(
        account=account, event=parsed(account, message_item(account, mid="m-1", text="the price?"))
    )
    assert outcome == "received" and message is not None
    assert message_automate(message_id=message.pk, inbound=Inbound()) == "rule “Prices”"
    assert message_automate(message_id=message.pk) == "already automated"
    assert Action.objects.filter(action_type=ActionType.DM).count() == 1


def test_a_reply_planned_already_by_other_means_is_not_planned_twice(account: InstagramAccount) -> None:
    keyword_rule(account)
    message, _ = message_ingest(account=account, event=parsed(account, message_item(account, mid="m-1", text="price?")))
    assert message is not None
    # An action with the rule's key for this message (it cannot happen today: its analysis would exist).
    taken = action_plan(
        account=account,
        action_type=ActionType.DM,
        idempotency_key=f"dm_auto:{message.conversation_id}:rule:{message.pk}",
        payload={"recipient_id": FOLLOWER_ID, "message": "planned before"},
    )[0]
    assert message_automate(message_id=message.pk) == "rule “Prices”"
    # Rolled back and done again with action_plan, which found it.
    assert list(Action.objects.filter(action_type=ActionType.DM).values_list("pk", flat=True)) == [taken.pk]
    assert MessageAnalysis.objects.count() == 1 and AutomatedReply.objects.count() == 0
    assert message_automate(message_id=message.pk) == "already automated"


def test_a_worker_dying_before_the_reply_commits_leaves_it_to_the_retry(account: InstagramAccount, monkeypatch) -> None:
    keyword_rule(account)
    real = AutomatedReply.objects.create

    def dies(**fields: Any) -> AutomatedReply:
        raise RuntimeError("the worker died")

    monkeypatch.setattr(AutomatedReply.objects, "create", dies)
    event = deliver(account, message_item(account, mid="m-1", text="price?"))
    assert event.state == InboundEventState.FAILED
    # The message, its conversation, its analysis and the reply went together: nothing of them is left.
    assert Message.objects.count() == 0 and Conversation.objects.count() == 0
    assert MessageAnalysis.objects.count() == 0 and Action.objects.count() == 0
    assert ConversationEvent.objects.count() == 0
    monkeypatch.setattr(AutomatedReply.objects, "create", real)
    # The event handled again (the sweeper): stored and answered, once.
    retry = InboundEvent.objects.select_related("account").get(pk=event.pk)
    assert messaging_event_handle(retry).outcome == "received; rule “Prices”"
    assert messaging_event_handle(retry).outcome == "already stored"
    assert Action.objects.filter(action_type=ActionType.DM).count() == 1
    assert list(ConversationEvent.objects.values_list("kind", flat=True)) == ["new_conversation"]


def test_a_message_stored_before_its_worker_died_is_automated_by_the_retry(account: InstagramAccount) -> None:
    """The two-step path (the AI classifier, or a message stored by an earlier version): stored, then automated."""
    keyword_rule(account)
    item = message_item(account, mid="m-1", text="price?")
    message_ingest(account=account, event=parsed(account, item))  # the worker died after this commit
    event = stored_event(account, item)
    assert messaging_event_handle(event).outcome == "already stored; rule “Prices”"
    assert messaging_event_handle(event).outcome == "already stored"
    assert Action.objects.filter(action_type=ActionType.DM).count() == 1
    assert list(ConversationEvent.objects.values_list("kind", flat=True)) == ["new_conversation"]


def test_with_the_ai_classifier_the_message_is_stored_before_the_model_is_asked(
    account: InstagramAccount, monkeypatch
) -> None:
    DmRule.objects.create(
        account=account, name="Prices", trigger_kind=TriggerKind.INTENT, intent=Intent.PRICING, reply_templates="2.50"
    )
    config = automation.messaging_settings_get(workspace_id=account.workspace_id)
    config.classifier_ai = True
    config.save()
    asked: list[str] = []

    def model(*, config: Any, text: str) -> str:
        # The two-step path: the message is stored (its transaction committed) before the model is asked.
        assert Message.objects.filter(mid="m-1").exists()
        asked.append(text)
        return Intent.PRICING

    monkeypatch.setattr(automation, "ai_intent_classify", model)
    # The rules name no intent here: the model is asked, the long way.
    event = deliver(account, message_item(account, mid="m-1", text="tell me about the croissants"))
    assert event.outcome == "received; rule “Prices”" and asked == ["tell me about the croissants"]
    assert MessageAnalysis.objects.get().classified_by.startswith("AI")
    # The rules name this one: the model is not asked, the message is handled in one go.
    event = deliver(account, message_item(account, mid="m-2", text="how much for a croissant?"))
    assert event.outcome == "received; rule “Prices”" and len(asked) == 1
    assert Action.objects.filter(action_type=ActionType.DM).count() == 2


def test_an_echo_or_a_deletion_opening_a_conversation_is_not_automated(account: InstagramAccount) -> None:
    keyword_rule(account)
    echo = deliver(account, message_item(account, mid="e-1", text="price list attached", echo=True, sender="333"))
    assert echo.outcome == "sent by the account outside InstaForge (echo)"
    deleted = deliver(account, message_item(account, mid="d-1", deleted=True, sender="444"))
    assert deleted.outcome == "deleted before it was received: kept as deleted"
    assert MessageAnalysis.objects.count() == 0 and Action.objects.count() == 0
    assert Conversation.objects.get(participant_igsid="333").last_message_direction == MessageDirection.OUTBOUND
    assert Conversation.objects.get(participant_igsid="444").last_message_at is None
    # The person behind the deletion writes: not a new conversation (they wrote before), no welcome.
    later = deliver(account, message_item(account, mid="d-2", text="price?", sender="444"))
    assert later.outcome == "received; rule “Prices”"
    assert not ConversationEvent.objects.filter(kind="new_conversation").exists()


def test_a_closed_conversation_the_person_writes_to_again_is_answered(account: InstagramAccount) -> None:
    keyword_rule(account)
    deliver(account, message_item(account, mid="m-1", text="hello"))
    Conversation.objects.update(state=ConversationState.CLOSED)
    event = deliver(account, message_item(account, mid="m-2", text="price?"))
    assert event.outcome == "received; rule “Prices”"
    assert Conversation.objects.get().state == ConversationState.AUTOMATED


@pytest.mark.django_db(transaction=True)
def test_two_workers_opening_the_same_conversation_store_both_messages_once(account: InstagramAccount) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers: SQLite takes one at a time")
    keyword_rule(account)
    events = [stored_event(account, message_item(account, mid=f"m-{n}", text="price?")) for n in range(2)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker(event: InboundEvent) -> None:
        try:
            from accounts.tenancy import workspace_scope

            with workspace_scope(account.workspace_id):
                barrier.wait()
                outcomes.append(messaging_event_handle(event).outcome)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["received; rule “Prices”"] * 2
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(direction=MessageDirection.INBOUND).count() == 2
    assert Action.objects.filter(action_type=ActionType.DM).count() == 2
