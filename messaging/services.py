"""Writes for the DM inbox: storing what the messaging webhooks say, and a person's answers.

Received messages come from the ``messages`` webhook (``messaging_event_handle``);
a member's reply is planned on the ledger (action type ``dm``) and sent by the
dispatcher after the safety gate, never from here.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Field
from django.utils import timezone

from accounts.models import InstagramAccount, Membership, User
from accounts.vault import TokenDecryptionError
from accounts.zones import when_words
from actions.models import Action, ActionState, ActionType
from actions.services import action_plan
from instaforge.tasks import enqueue_coalesced_items
from instagram.client import InstagramClient
from instagram.errors import GraphAPIError
from instagram.events import HandlerResult
from instagram.limits import HUMAN_AGENT_WINDOW, STANDARD_WINDOW, message_text_error
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import (
    Attachment,
    MessageEditEvent,
    MessageEvent,
    PostbackEvent,
    ReactionEvent,
    ReferralEvent,
    SeenEvent,
    event_parse,
)
from messaging.automation import (
    ActionKeyTaken,
    AlreadyAutomated,
    Inbound,
    Received,
    message_automate,
    message_automate_stored_now,
    message_classify_locally,
    messaging_settings_get,
)
from messaging.models import Conversation, ConversationState, Message, MessageDirection, Note
from safety.graph import graph_client

logger = logging.getLogger(__name__)

# Instagram text messages are at most 1,000 characters.
PREVIEW_LENGTH = 200
# The coalescing flag of the profile reads of new people (messaging.tasks.conversation_profiles_fetch).
PROFILES_FLAG = "profiles"
DELETED_PREVIEW = "(message deleted)"


# ---------------------------------------------------------------------------
# The messaging window


@dataclass(frozen=True)
class ReplyWindow:
    """Whether a person may answer now, and how."""

    allowed: bool
    human_agent: bool  # send with the HUMAN_AGENT tag
    explanation: str
    closes_at: datetime | None = None
    standard_until: datetime | None = None  # when the 24-hour window closes


def reply_window(*, conversation: Conversation, now: datetime | None = None) -> ReplyWindow:
    """Which of Meta's windows a person's reply falls in, counted from the person's last message.

    Under 24 hours: a normal message. From 24 hours to 7 days: only with the
    HUMAN_AGENT tag. Later, or when the person never wrote: refused. Only for a
    person's replies; automated messages get no human-agent window.
    """
    now = now or timezone.now()
    last = conversation.last_inbound_at
    if last is None:
        return ReplyWindow(
            False,
            False,
            "The person has not written to this account yet: Instagram lets you answer only after they do.",
        )
    age = now - last
    if age < STANDARD_WINDOW:
        closes = last + STANDARD_WINDOW
        return ReplyWindow(
            True,
            False,
            f"Within the 24-hour window (until {when_words(closes, now=now)}): a normal message.",
            closes,
            standard_until=closes,
        )
    if age < HUMAN_AGENT_WINDOW:
        closes = last + HUMAN_AGENT_WINDOW
        return ReplyWindow(
            True,
            True,
            "The 24-hour window has closed: your reply is sent with Instagram's HUMAN_AGENT tag, "
            f"which a person may use until {when_words(closes, now=now)} (7 days after their last message).",
            closes,
            standard_until=last + STANDARD_WINDOW,
        )
    return ReplyWindow(
        False,
        False,
        "More than 7 days have passed since the person's last message: Instagram does not allow a reply "
        "until they write again.",
    )


class ReplyRefused(Exception):
    """A reply that may not be sent; the message says why, for the member."""


# ---------------------------------------------------------------------------
# Webhooks


def messaging_event_handle(event: InboundEvent) -> HandlerResult:
    """Handler for stored messaging items: messages are stored; other kinds are acknowledged and left for later."""
    assert event.account is not None
    parsed = event_parse(field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time)
    if isinstance(parsed, PostbackEvent) and not parsed.is_self:
        # A tapped ice breaker or template button: in the thread as the person's message (its title),
        # and to the automation as a quick-reply payload (flows and rules match it).
        parsed = MessageEvent(
            webhook_field=parsed.webhook_field,
            entry_id=parsed.entry_id,
            entry_time=parsed.entry_time,
            sender_id=parsed.sender_id,
            recipient_id=parsed.recipient_id,
            timestamp=parsed.timestamp,
            mid=parsed.mid or f"postback:{event.dedupe_key}"[:200],
            text=parsed.title,
            quick_reply_payload=parsed.payload or None,
        )
    if isinstance(parsed, MessageEvent):
        story_reply = parsed.reply_to is not None and parsed.reply_to.is_story
        inbound = Inbound(quick_reply_payload=parsed.quick_reply_payload, story_reply=story_reply)
        stored, automated = _received_store_and_automate(
            account=event.account, event=parsed, inbound_event=event, inbound=inbound
        )
        if stored is None:  # not a new received message, or the AI classifier is to be asked: the long way
            stored = _message_store(account=event.account, event=parsed, inbound_event=event)
        message, outcome = stored.message, stored.outcome
        received = message is not None and message.direction == MessageDirection.INBOUND and not message.is_deleted
        if automated is None and received and message is not None:
            if stored.created:
                # Stored by this very call: handed over as it is, with its conversation and account (no re-read).
                automated = message_automate(
                    received=Received(message=message, conversation_opened=stored.conversation_created),
                    inbound=inbound,
                )
            else:
                automated = message_automate(message_id=message.pk, inbound=inbound)
        if automated is not None and automated != "already automated":
            outcome = f"{outcome}; {automated}"
        return HandlerResult(InboundEventState.PROCESSED, outcome[:500])
    ignored = {
        ReactionEvent: "a reaction: not shown in the inbox yet",
        SeenEvent: "a read receipt: not shown in the inbox yet",
        MessageEditEvent: "an edited message: edits are not applied yet",
        PostbackEvent: "a button tap the account sent itself (a test)",
        ReferralEvent: "a referral: not used yet",
    }
    for kind, outcome in ignored.items():
        if isinstance(parsed, kind):
            return HandlerResult(InboundEventState.IGNORED, outcome)
    return HandlerResult(InboundEventState.IGNORED, f"not a message: {type(parsed).__name__}")


def _received_store_and_automate(
    *, account: InstagramAccount, event: MessageEvent, inbound_event: InboundEvent, inbound: Inbound
) -> tuple[_Stored | None, str | None]:
    """A message the person sent, stored and automated in one transaction: how it was stored, what was done.

    The message, its analysis and the reply planned from it (or the hand-over...) commit together, in one
    transaction rather than two; a flow or an AI reply runs after the commit, outside any transaction. Not for
    what cannot be done so: a deletion, an echo, a test message (``(None, None)``: the caller stores it), a text
    the AI classifier is to read (its call is not made inside a transaction; nothing is stored here then), a
    redelivery (stored already: ``(stored, None)``; the caller automates it by its id, which finds its analysis
    unless a worker died between the two-step path's transactions), nor anything that turns out otherwise than
    new (all rolled back, ``(None, None)``: the caller takes the long way).
    """
    if event.is_self or event.is_echo or event.is_deleted:
        return None, None
    config = messaging_settings_get(workspace_id=account.workspace_id)
    result = message_classify_locally(text=event.text, config=config)
    if result is None:
        return None, None
    moment = event.timestamp or timezone.now()
    try:
        with transaction.atomic():
            stored = _message_insert(
                account=account,
                event=event,
                moment=moment,
                inbound_event=inbound_event,
                trust_new_conversation=True,
                savepoint=False,
            )
            if not stored.created:
                return stored, None
            assert stored.message is not None
            automated, after_commit = message_automate_stored_now(
                message=stored.message,
                conversation_opened=stored.conversation_created,
                inbound=inbound,
                config=config,
                result=result,
            )
    except (_MidInAnotherConversation, AlreadyAutomated, ActionKeyTaken):
        logger.info("Message %s of account %s: stored the long way", event.mid, account.pk)
        return None, None
    if after_commit is not None:
        after_commit()
    return stored, automated


def _conversation_locked(*, account: InstagramAccount, igsid: str) -> Conversation:
    """The conversation with ``igsid``, created if new, its row locked. Call inside a transaction."""
    conversation, _ = _conversation_locked_or_opened(account=account, igsid=igsid, first=None)
    return conversation


def _conversation_locked_or_opened(
    *, account: InstagramAccount, igsid: str, first: Message | None
) -> tuple[Conversation, bool]:
    """The conversation with ``igsid``, its row locked, and whether this call created it. Call inside a transaction.

    The common case is one ``SELECT … FOR UPDATE``. A new conversation is inserted by one ``INSERT … ON CONFLICT
    DO NOTHING RETURNING id`` (``get_or_create`` took a read, a savepoint, the insert, its release and a read
    again): a row this transaction inserted is its own until it commits, so no lock is needed. When another worker
    inserted it meanwhile, the insert waits for that worker's commit, inserts nothing, and the row is read locked.
    ``first``: the message that opens a new conversation, whose last-message fields the row is inserted with
    (``_conversation_touch``'s, so no ``UPDATE`` follows).
    """
    mine = Conversation.objects.select_for_update().filter(account=account, participant_igsid=igsid)
    conversation = mine.first()
    if conversation is not None:  # the common case: one query
        return conversation, False
    new = Conversation(workspace_id=account.workspace_id, account=account, participant_igsid=igsid)
    if first is not None:
        _conversation_touch(new, first, save=False)
    if _conversation_insert(new):
        return new, True
    return mine.get(), False


def _conversation_insert(conversation: Conversation) -> bool:
    """INSERT ``conversation`` unless its (account, person) exists: True, with its id set, when it was inserted.

    ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL and SQLite ≥ 3.35, as ``instagram.services``'s
    upsert), which Django's ``bulk_create(ignore_conflicts=True)`` runs without telling which rows it inserted.
    Each value goes through its field's ``pre_save`` and ``get_db_prep_save`` as in ``save()``.
    """
    database = connections[router.db_for_write(Conversation)]
    sql, fields = _conversation_insert_statement(database.alias)
    values = [field.get_db_prep_save(field.pre_save(conversation, True), database) for field in fields]
    # As ``save()``: a failed INSERT inside a transaction leaves it to be rolled back.
    with transaction.mark_for_rollback_on_error(database.alias), database.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    conversation.pk = row[0]
    conversation._state.adding = False
    conversation._state.db = database.alias
    return True


@functools.cache
def _conversation_insert_statement(alias: str) -> tuple[str, list[Field[Any, Any]]]:
    """``_conversation_insert``'s SQL, built once from the model's table and columns, and its fields in order."""
    meta = Conversation._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    column_of = {field.name: field.column for field in fields}
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    unique = ", ".join(quote(column_of[name]) for name in ("account", "participant_igsid"))
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608 (names from _meta)
        f"ON CONFLICT ({unique}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )
    return sql, fields


def _conversation_touch(conversation: Conversation, message: Message, *, save: bool = True) -> None:
    """Move the conversation's last-message fields forward (webhooks may arrive out of order).

    ``save=False``: only in memory (a conversation about to be inserted with them).
    """
    fields: list[str] = []
    if conversation.last_message_at is None or message.created_at >= conversation.last_message_at:
        conversation.last_message_at = message.created_at
        conversation.last_message_preview = _preview(message)
        conversation.last_message_direction = message.direction
        fields += ["last_message_at", "last_message_preview", "last_message_direction"]
    if message.direction == MessageDirection.INBOUND:
        if conversation.last_inbound_at is None or message.created_at > conversation.last_inbound_at:
            conversation.last_inbound_at = message.created_at
            fields.append("last_inbound_at")
        if conversation.state == ConversationState.CLOSED:
            # The person wrote again: the conversation is open again, back with the automation
            # (which, until rules and flows exist, leaves it for a person to answer).
            conversation.state = ConversationState.AUTOMATED
            fields.append("state")
    if fields and save:
        conversation.save(update_fields=fields)


def _preview(message: Message) -> str:
    if message.is_deleted:
        return DELETED_PREVIEW
    if message.text:
        return message.text[:PREVIEW_LENGTH]
    kinds = ", ".join(str(attachment.get("type") or "attachment") for attachment in message.attachments)
    return f"[{kinds}]" if kinds else ""


def _attachment_stored(attachment: Attachment) -> dict[str, Any]:
    """An attachment as the thread shows it; a URL that is not http(s) is dropped (it becomes a link)."""
    stored = asdict(attachment)
    if not str(stored.get("url") or "").startswith(("https://", "http://")):
        stored["url"] = None
    return stored


def _own_reply_for_echo(*, conversation: Conversation, event: MessageEvent) -> Message | None:
    """Our reply that this echo reports, if it is one.

    By the ``message_id`` Instagram answered the send with; failing that (the
    echo can arrive before the dispatcher has recorded the answer), the oldest
    reply of this conversation with the same text that is being sent.
    """
    sent = Action.objects.filter(
        account_id=conversation.account_id, action_type=ActionType.DM, result__message_id=event.mid
    ).values("pk")
    own = Message.objects.filter(conversation=conversation, action__in=sent).first()
    if own is not None:
        return own
    return (
        Message.objects.filter(
            conversation=conversation,
            direction=MessageDirection.OUTBOUND,
            mid="",
            action__state__in=[ActionState.SENDING, ActionState.UNKNOWN],
            text=event.text,
        )
        .order_by("created_at", "id")
        .first()
    )


def message_ingest(
    *, account: InstagramAccount, event: MessageEvent, inbound_event: InboundEvent | None = None
) -> tuple[Message | None, str]:
    """Store one ``messages`` webhook item. Returns the message (if any) and what happened, in words.

    Idempotent on Meta's ``mid``: a redelivery changes nothing. A received
    message opens or reopens the conversation and moves its 24-hour window. An
    echo of a reply sent from InstaForge is matched to that reply instead of
    being stored twice; other echoes (the Instagram app, another tool) are
    stored as the account's messages. A deletion blanks the message and marks
    it deleted (if the deletion comes first, a deleted placeholder keeps the
    late original out).
    """
    stored = _message_store(account=account, event=event, inbound_event=inbound_event)
    return stored.message, stored.outcome


@dataclass(frozen=True)
class _Stored:
    """What ``message_ingest`` did with one item, and whether this call created the message and its conversation."""

    message: Message | None
    outcome: str
    created: bool = False
    conversation_created: bool = False


class _MidInAnotherConversation(Exception):
    """A message of a conversation just opened has a ``mid`` the account already has: store it the long way."""


def _message_store(*, account: InstagramAccount, event: MessageEvent, inbound_event: InboundEvent | None) -> _Stored:
    """``message_ingest``, telling what this call created (``messaging_event_handle`` then reads nothing back)."""
    if event.is_self:
        return _Stored(None, "a test message the account sent to itself")
    moment = event.timestamp or timezone.now()
    if event.is_deleted:
        message, outcome = _message_delete(account=account, event=event, moment=moment, inbound_event=inbound_event)
        return _Stored(message, outcome)
    try:
        return _message_insert(
            account=account, event=event, moment=moment, inbound_event=inbound_event, trust_new_conversation=True
        )
    except _MidInAnotherConversation:  # rolled back: nothing of the first try is left
        return _message_insert(
            account=account, event=event, moment=moment, inbound_event=inbound_event, trust_new_conversation=False
        )


def _message_insert(
    *,
    account: InstagramAccount,
    event: MessageEvent,
    moment: datetime,
    inbound_event: InboundEvent | None,
    trust_new_conversation: bool,
    savepoint: bool = True,
) -> _Stored:
    """Store a message that is not a deletion; ``trust_new_conversation``: see below. ``savepoint=False``: inside
    the caller's transaction, which an error rolls back whole (``_received_store_and_automate``)."""
    message = Message(
        workspace_id=account.workspace_id,
        account=account,
        mid=event.mid,
        direction=MessageDirection.OUTBOUND if event.is_echo else MessageDirection.INBOUND,
        text=event.text,
        attachments=[_attachment_stored(attachment) for attachment in event.attachments],
        is_echo=event.is_echo,
        inbound_event=inbound_event,
        created_at=moment,
    )
    with transaction.atomic(savepoint=savepoint):
        conversation, opened = _conversation_locked_or_opened(
            account=account, igsid=event.customer_id, first=message if trust_new_conversation else None
        )
        message.conversation = conversation
        if opened and trust_new_conversation:
            # A conversation this transaction created holds no message yet (no other transaction sees it), so
            # neither a stored copy of this message nor, for an echo, our reply is looked for; it was inserted
            # with this message's last-message fields. A mid is one person's: should another conversation of
            # the account hold it all the same, the unique key refuses it, and the message is stored the long way.
            try:
                message.save(force_insert=True)
            except IntegrityError as exc:
                raise _MidInAnotherConversation from exc
        else:
            existing = Message.objects.filter(account=account, mid=event.mid).first()
            if existing is not None:
                return _Stored(existing, "already stored")
            if event.is_echo:
                own = _own_reply_for_echo(conversation=conversation, event=event)
                if own is not None:
                    own.mid = event.mid
                    own.save(update_fields=["mid"])
                    return _Stored(own, "echo of a reply sent from InstaForge")
            message.save(force_insert=True)
            _conversation_touch(conversation, message)
        if not event.is_echo and not conversation.participant_username:
            # One task reads the profiles of a burst of new people (Redis); with the ORM broker, one each.
            enqueue_coalesced_items(
                "messaging.tasks.conversation_profiles_fetch",
                [f"{account.workspace_id}:{conversation.pk}"],
                flag=PROFILES_FLAG,
                robust=True,
            )
    # The account as the caller has it: the automation plans on it without reading it again.
    conversation.account = account
    outcome = "sent by the account outside InstaForge (echo)" if event.is_echo else "received"
    return _Stored(message, outcome, created=True, conversation_created=opened)


def _message_delete(
    *, account: InstagramAccount, event: MessageEvent, moment: datetime, inbound_event: InboundEvent | None
) -> tuple[Message, str]:
    with transaction.atomic():
        conversation = _conversation_locked(account=account, igsid=event.customer_id)
        message = Message.objects.filter(account=account, mid=event.mid).first()
        if message is None:
            placeholder = Message.objects.create(
                workspace_id=account.workspace_id,
                conversation=conversation,
                account=account,
                mid=event.mid,
                direction=MessageDirection.OUTBOUND
                if event.sender_id == account.ig_user_id
                else MessageDirection.INBOUND,
                is_deleted=True,
                deleted_at=moment,
                inbound_event=inbound_event,
                created_at=moment,
            )
            return placeholder, "deleted before it was received: kept as deleted"
        if message.is_deleted:
            return message, "already marked deleted"
        # The person unsent it: keep that it existed, not what it said.
        message.is_deleted, message.deleted_at, message.text, message.attachments = True, moment, "", []
        message.save(update_fields=["is_deleted", "deleted_at", "text", "attachments"])
        if conversation.last_message_at == message.created_at:
            conversation.last_message_preview = DELETED_PREVIEW
            conversation.save(update_fields=["last_message_preview"])
    return message, "marked deleted"


# ---------------------------------------------------------------------------
# A person's actions in the inbox


def conversation_reply(
    *, conversation_id: int, author: User, text: str, token: str, now: datetime | None = None
) -> Message:
    """Plan a member's reply on the ledger, once per form ``token``, and show it in the thread.

    The reply is an action of type ``dm``: the dispatcher sends it after the
    safety gate. Within 24 hours of the person's last message it is a normal
    message, up to 7 days with the HUMAN_AGENT tag; later it is refused
    (``ReplyRefused``). Submitting the same form twice plans one action and
    returns the same message.
    """
    now = now or timezone.now()
    text = text.strip()
    if not text:
        raise ReplyRefused("Write a message first.")
    too_long = message_text_error(text)
    if too_long is not None:
        raise ReplyRefused(too_long)
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("account").get(pk=conversation_id)
        account = conversation.account
        key = f"dm_reply:{conversation.pk}:{token}"
        already = Message.objects.filter(action__account=account, action__idempotency_key=key).first()
        if already is not None:
            return already
        window = reply_window(conversation=conversation, now=now)
        if not window.allowed:
            raise ReplyRefused(window.explanation)
        payload: dict[str, Any] = {
            "recipient_id": conversation.participant_igsid,
            "message": text,
            "human_agent": window.human_agent,
            # When the normal window closes: a reply the gate holds past it is sent with the tag instead.
            "standard_window_until": window.standard_until.isoformat() if window.standard_until else None,
            "conversation_id": conversation.pk,
            "sent_by": author.pk,
        }
        action, created = action_plan(
            account=account,
            action_type=ActionType.DM,
            idempotency_key=key,
            payload=payload,
            due_at=now,
            source_kind="conversation",
            source_id=str(conversation.pk),
        )
        if not created:
            return Message.objects.get(action=action)
        message = Message.objects.create(
            workspace_id=conversation.workspace_id,
            conversation=conversation,
            account=account,
            direction=MessageDirection.OUTBOUND,
            text=text,
            sent_by=author,
            action=action,
            created_at=now,
        )
        _conversation_touch(conversation, message)
    return message


def conversation_state_set(*, conversation: Conversation, state: str) -> Conversation:
    """Move a conversation to ``state`` (automated, waiting for a person, closed)."""
    if state not in ConversationState.values:
        raise ValueError(f"Unknown conversation state {state!r}.")
    Conversation.objects.filter(pk=conversation.pk).update(state=state)
    conversation.state = state
    return conversation


def conversation_assign(*, conversation: Conversation, membership: Membership | None) -> Conversation:
    """Assign the conversation to a member of its own workspace, or to nobody."""
    if membership is not None and membership.workspace_id != conversation.workspace_id:
        raise ValueError("Only a member of the conversation's workspace can be assigned.")
    Conversation.objects.filter(pk=conversation.pk).update(assigned_to=membership)
    conversation.assigned_to = membership
    return conversation


def note_add(*, conversation: Conversation, author: User, text: str) -> Note:
    """A private note for the team. Never sent to Instagram."""
    text = text.strip()
    if not text:
        raise ValueError("A note needs some text.")
    return Note.objects.create(
        workspace_id=conversation.workspace_id, conversation=conversation, author=author, text=text
    )


# ---------------------------------------------------------------------------
# Reads from Instagram


def _reading_client(account: InstagramAccount) -> InstagramClient:
    """A client whose answers' usage headers reach the safety engine; no retries (best effort)."""
    return graph_client(account=account, max_retries=0)


def conversation_profile_refresh(*, conversation_id: int) -> str:
    """Fill in the person's username and name from Instagram's User Profile API, when not yet known.

    Best effort: a refusal or an unreachable API leaves the conversation as it
    is (the next message tries again).
    """
    conversation = Conversation.objects.select_related("account").filter(pk=conversation_id).first()
    if conversation is None or conversation.participant_username:
        return "nothing to do"
    try:
        profile = _reading_client(conversation.account).user_profile(
            igsid=conversation.participant_igsid, fields="name,username"
        )
    except (GraphAPIError, TokenDecryptionError) as exc:
        logger.info("No profile for conversation %s: %s", conversation_id, exc)
        return f"profile not available: {exc}"
    Conversation.objects.filter(pk=conversation_id).update(
        participant_username=str(profile.get("username") or "")[:100],
        participant_name=str(profile.get("name") or "")[:200],
    )
    return "profile stored"
