"""What Meta's Instagram webhooks say, parsed into typed domain events.

``instagram.services.webhook_parse`` splits a delivery into changes and stores
each one as an ``InboundEvent``: a change of ``entry[].changes[]`` keeps its
``{"field", "value"}`` dict, a ``entry[].messaging[]`` item is kept as is with
the field ``"messaging"``. This module turns one such stored payload into one
frozen event object, and names the key that makes a redelivery land on the
same row.

The shapes follow Meta's documentation (fixtures and their sources in
``instagram/tests/fixtures/meta/SOURCES.md``). Where Meta documents two shapes
(Instagram Login and Facebook Login, or a page and its reference), both parse.
Parsing is tolerant: a missing optional key becomes ``None``, ``""``,
``False`` or an empty tuple, a value of the wrong type is treated as missing,
and a field nobody documents becomes an ``UnknownEvent`` that keeps the raw
payload; a text longer than its column (``ID_MAX_LENGTH``…) or a time Meta
cannot have sent counts as missing. Only a known field without the ids that
identify it raises ``MalformedEvent``, and nothing raises anything else: the
task records either as the event's outcome.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

# The longest key ``InboundEvent.dedupe_key`` stores.
DEDUPE_KEY_MAX_LENGTH: Final = 200

# The longest ids the domain events carry, as the columns they are stored in hold them: Meta's numeric
# ids (accounts, media, comments, IGSIDs) have under 25 digits, message ids ("mid") about 100 characters.
# A longer value is not Meta's: it is read as missing (and a missing identifying id is MalformedEvent).
ID_MAX_LENGTH: Final = 64
MID_MAX_LENGTH: Final = 200
USERNAME_MAX_LENGTH: Final = 100
PRODUCT_TYPE_MAX_LENGTH: Final = 30

# Meta's times are seconds (entries, changes) or milliseconds (messaging): a number above this is milliseconds.
MILLISECONDS_FROM: Final = 10**11
# Later than any time Meta sends, and far enough from datetime's year 9999 that converting to any time
# zone (the admin, the inbox) cannot overflow.
LATEST_META_TIME: Final = datetime(3000, 1, 1, tzinfo=UTC)
_LATEST_META_SECONDS: Final = LATEST_META_TIME.timestamp()

# Story insight counts below 5 arrive as -1 (Graph API webhooks reference, story_insights).
STORY_METRIC_BELOW_THRESHOLD: Final = -1

# Attachment types Instagram's own pages list: the Instagram Login webhook examples
# (media, audio, file, image, video, share, ig_post, story_mention, ig_reel, reel, story,
# ig_story) and the Messenger API for Instagram webhooks page (ephemeral: disappearing
# media, sent without a URL).
INSTAGRAM_ATTACHMENT_TYPES: Final = frozenset(
    {
        "audio",
        "ephemeral",
        "file",
        "ig_post",
        "ig_reel",
        "ig_story",
        "image",
        "media",
        "reel",
        "share",
        "story",
        "story_mention",
        "video",
    }
)
# Types only the Messenger Platform reference lists (messages: fallback; message_echoes:
# template). They are known, so they parse as attachments, but no Instagram page shows them.
MESSENGER_ONLY_ATTACHMENT_TYPES: Final = frozenset({"fallback", "template"})
KNOWN_ATTACHMENT_TYPES: Final = INSTAGRAM_ATTACHMENT_TYPES | MESSENGER_ONLY_ATTACHMENT_TYPES

# The key of a messaging item that tells its kind, in the order they are tried, and
# the webhook field an app subscribes to for it.
MESSAGING_ITEM_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("message", "messages"),
    ("message_edit", "message_edit"),
    ("reaction", "message_reactions"),
    ("postback", "messaging_postbacks"),
    ("read", "messaging_seen"),
    ("referral", "messaging_referral"),
    ("pass_thread_control", "messaging_handover"),
    ("take_thread_control", "messaging_handover"),
    ("request_thread_control", "messaging_handover"),
)
MESSAGING_FIELDS: Final = frozenset(name for _, name in MESSAGING_ITEM_FIELDS)
# What ``webhook_parse`` stores messaging items under.
MESSAGING_STORAGE_FIELD: Final = "messaging"


class MalformedEvent(ValueError):
    """A known webhook field arrived without the ids that identify it."""

    def __init__(self, webhook_field: str, missing: str) -> None:
        super().__init__(f"A {webhook_field!r} event has no {missing}.")
        self.webhook_field = webhook_field
        self.missing = missing


# ---------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    webhook_field: str  # the field an app subscribes to ("comments", "messages", …)
    entry_id: str  # the Instagram professional account the entry is about
    entry_time: datetime | None  # when Meta sent the notification


@dataclass(frozen=True, slots=True, kw_only=True)
class _MessagingEvent(_Event):
    sender_id: str
    recipient_id: str
    timestamp: datetime | None  # when the event happened

    @property
    def customer_id(self) -> str:
        """The other side of the conversation: the sender, or the recipient of what the account sent."""
        return self.sender_id if self.sender_id != self.entry_id else self.recipient_id


@dataclass(frozen=True, slots=True)
class CommentAuthor:
    id: str | None
    username: str | None
    # Set when the account comments on its own media (self messaging page).
    self_ig_scoped_id: str | None = None


@dataclass(frozen=True, slots=True)
class CommentMedia:
    id: str | None
    media_product_type: str | None = None  # AD, FEED, STORY, REELS (LIVE for live comments is unverified)
    ad_id: str | None = None
    ad_title: str | None = None
    original_media_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CommentEvent(_Event):
    """``comments`` and ``live_comments``. With Instagram Login, @mentions in comments arrive here too."""

    comment_id: str
    text: str
    author: CommentAuthor
    media: CommentMedia
    parent_id: str | None
    is_live: bool

    @property
    def is_reply(self) -> bool:
        return self.parent_id is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class MentionEvent(_Event):
    """``mentions`` (Facebook Login only): the account was @mentioned in a caption, or in a comment."""

    media_id: str
    comment_id: str | None

    @property
    def is_caption_mention(self) -> bool:
        return self.comment_id is None


@dataclass(frozen=True, slots=True)
class Attachment:
    type: str
    url: str | None = None
    title: str | None = None  # the caption of a shared post
    media_id: str | None = None  # ``ig_post_media_id`` of a shared post

    @property
    def is_known_type(self) -> bool:
        return self.type in KNOWN_ATTACHMENT_TYPES


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """An inline reply to a message (``mid``), or a reply to a story (``story_id``, ``story_url``)."""

    mid: str | None = None
    story_id: str | None = None
    story_url: str | None = None

    @property
    def is_story(self) -> bool:
        return self.story_id is not None or self.story_url is not None


@dataclass(frozen=True, slots=True)
class AdContext:
    ad_title: str | None = None
    photo_url: str | None = None
    video_url: str | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """Where a conversation came from: a click-to-Instagram-Direct ad, an ig.me link or a Shop product."""

    ref: str | None = None
    source: str | None = None  # "ADS" for ads; the ig.me link for messaging_referral
    type: str | None = None  # "OPEN_THREAD"
    ad_id: str | None = None
    ads_context: AdContext | None = None
    product_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEvent(_MessagingEvent):
    """``messages``: a message the account received, or sent (``is_echo``)."""

    mid: str
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    quick_reply_payload: str | None = None
    reply_to: ReplyTo | None = None
    referral: Referral | None = None
    is_echo: bool = False
    is_deleted: bool = False
    is_unsupported: bool = False
    is_self: bool = False  # a test message the account sent to itself


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEditEvent(_MessagingEvent):
    """``message_edit``: a customer edited a message they had sent."""

    mid: str
    text: str
    num_edit: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostbackEvent(_MessagingEvent):
    """``messaging_postbacks``: an icebreaker or a template button was tapped."""

    mid: str | None  # only from API v11.0 on
    title: str
    payload: str
    referral: Referral | None = None
    is_self: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReactionEvent(_MessagingEvent):
    """``message_reactions``: a customer reacted to a message, or took the reaction back."""

    mid: str
    action: str  # "react" or "unreact"
    reaction: str | None  # "love", … absent on unreact
    emoji: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SeenEvent(_MessagingEvent):
    """``messaging_seen``. Instagram documents the ``mid`` read; Messenger a ``watermark`` (ms)."""

    mid: str | None
    watermark: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferralEvent(_MessagingEvent):
    """``messaging_referral``: an ig.me link with a ``ref`` was opened in an existing conversation."""

    ref: str | None
    source: str | None
    type: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoryInsightsEvent(_Event):
    """``story_insights``: a story's metrics, sent once it has expired. -1 means fewer than 5."""

    media_id: str
    impressions: int | None
    reach: int | None
    taps_forward: int | None
    taps_back: int | None
    exits: int | None
    replies: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(_Event):
    """A field (or messaging item) nobody documents yet: kept whole, never dropped."""

    payload: dict[str, Any] = dataclass_field(hash=False)
    reason: str


DomainEvent: TypeAlias = (
    CommentEvent
    | MentionEvent
    | MessageEvent
    | MessageEditEvent
    | PostbackEvent
    | ReactionEvent
    | SeenEvent
    | ReferralEvent
    | StoryInsightsEvent
    | UnknownEvent
)


# ---------------------------------------------------------------------------
# Entry points


def event_parse(*, field: str, payload: dict[str, Any], entry_id: str, entry_time: datetime | None) -> DomainEvent:
    """Turn one stored change or messaging item into its domain event.

    ``payload`` is what ``InboundEvent.payload`` holds: the change
    ``{"field", "value"}`` (its ``value`` alone is accepted too) or, for
    ``field == "messaging"``, the messaging item. Messaging fields delivered as
    changes (the App Dashboard's test notifications) parse like items.

    Never raises for an unknown field or a partial payload; raises
    ``MalformedEvent`` when a known field lacks its identifying ids.
    """
    context = _Context(entry_id=str(entry_id), entry_time=entry_time)
    if not isinstance(payload, dict):
        return UnknownEvent(
            webhook_field=field, payload={"raw": payload}, reason="the payload is not an object", **context.kwargs()
        )
    if field == MESSAGING_STORAGE_FIELD:
        return _messaging_item_parse(payload, context)
    value = _change_value(payload)
    if field in MESSAGING_FIELDS:
        return _messaging_item_parse(value, context)
    parser = _CHANGE_PARSERS.get(field)
    if parser is None:
        return UnknownEvent(
            webhook_field=field, payload=payload, reason=f"no parser for the field {field!r}", **context.kwargs()
        )
    return parser(field, value, context)


def messaging_field_for(item: Mapping[str, Any]) -> str:
    """The webhook field a messaging item belongs to ("messages", "messaging_seen", …).

    ``"messaging"`` when the item has no documented kind.
    """
    for key, webhook_field in MESSAGING_ITEM_FIELDS:
        if isinstance(item.get(key), dict):
            return webhook_field
    return MESSAGING_STORAGE_FIELD


def dedupe_key_for(*, field: str, entry_id: str, payload: dict[str, Any]) -> str:
    """A key built from Meta's own ids, equal for every redelivery of one event.

    ``field`` and ``payload`` are what ``InboundEvent`` stores. Keys:
    ``<comments|live_comments>:<comment id>``, ``message:<mid>``,
    ``message_deleted:<mid>``, ``message_edit:<mid>:<num_edit>``,
    ``reaction:<mid>:<sender>:<action>:<reaction>:<timestamp>``,
    ``seen:<sender>:<mid>`` (or ``:w<watermark>``), ``postback:<mid>``,
    ``mentions:<media id>[:<comment id>]``,
    ``story_insights:<media id>:<sha256 of the metrics>``; anything else
    ``<field>:<entry id>:<sha256 of the canonical JSON>``. A key longer than
    the column keeps its prefix and hashes the rest. Never raises.
    """
    entry_id = str(entry_id)
    if not isinstance(payload, dict):
        return _fit(f"{field}:{entry_id}:{_digest(payload)}")
    if field == MESSAGING_STORAGE_FIELD or field in MESSAGING_FIELDS:
        item = payload if field == MESSAGING_STORAGE_FIELD else _change_value(payload)
        key = _messaging_dedupe_key(item)
        hashed = item
    else:
        value = _change_value(payload)
        key = _change_dedupe_key(field, value)
        hashed = value
    if key is None:
        key = f"{field}:{entry_id}:{_digest(hashed)}"
    return _fit(key)


# ---------------------------------------------------------------------------
# Changes: comments, live_comments, mentions, story_insights


@dataclass(frozen=True, slots=True)
class _Context:
    entry_id: str
    entry_time: datetime | None

    def kwargs(self) -> dict[str, Any]:
        return {"entry_id": self.entry_id, "entry_time": self.entry_time}


def _comment_parse(webhook_field: str, value: dict[str, Any], context: _Context) -> CommentEvent:
    # Instagram Login names the comment "id"; the Facebook Login example names it "comment_id".
    comment_id = _text(value.get("id"), limit=ID_MAX_LENGTH) or _text(value.get("comment_id"), limit=ID_MAX_LENGTH)
    if comment_id is None:
        raise MalformedEvent(webhook_field, "comment id")
    author = _object(value.get("from"))
    media = _object(value.get("media"))
    return CommentEvent(
        webhook_field=webhook_field,
        comment_id=comment_id,
        text=_text(value.get("text")) or "",
        author=CommentAuthor(
            id=_text(author.get("id"), limit=ID_MAX_LENGTH),
            username=_text(author.get("username"), limit=USERNAME_MAX_LENGTH),
            self_ig_scoped_id=_text(author.get("self_ig_scoped_id"), limit=ID_MAX_LENGTH),
        ),
        media=CommentMedia(
            id=_text(media.get("id"), limit=ID_MAX_LENGTH),
            media_product_type=_text(media.get("media_product_type"), limit=PRODUCT_TYPE_MAX_LENGTH),
            ad_id=_text(media.get("ad_id"), limit=ID_MAX_LENGTH),
            ad_title=_text(media.get("ad_title")),
            original_media_id=_text(media.get("original_media_id"), limit=ID_MAX_LENGTH),
        ),
        parent_id=_text(value.get("parent_id"), limit=ID_MAX_LENGTH),
        is_live=webhook_field == "live_comments",
        **context.kwargs(),
    )


def _mention_parse(webhook_field: str, value: dict[str, Any], context: _Context) -> MentionEvent:
    media_id = _text(value.get("media_id"), limit=ID_MAX_LENGTH)
    if media_id is None:
        raise MalformedEvent(webhook_field, "media_id")
    return MentionEvent(
        webhook_field=webhook_field,
        media_id=media_id,
        comment_id=_text(value.get("comment_id"), limit=ID_MAX_LENGTH),
        **context.kwargs(),
    )


def _story_insights_parse(webhook_field: str, value: dict[str, Any], context: _Context) -> StoryInsightsEvent:
    media_id = _text(value.get("media_id"), limit=ID_MAX_LENGTH)
    if media_id is None:
        raise MalformedEvent(webhook_field, "media_id")
    return StoryInsightsEvent(
        webhook_field=webhook_field,
        media_id=media_id,
        impressions=_integer(value.get("impressions")),
        reach=_integer(value.get("reach")),
        taps_forward=_integer(value.get("taps_forward")),
        taps_back=_integer(value.get("taps_back")),
        exits=_integer(value.get("exits")),
        replies=_integer(value.get("replies")),
        **context.kwargs(),
    )


_CHANGE_PARSERS: Final[dict[str, Callable[[str, dict[str, Any], _Context], DomainEvent]]] = {
    "comments": _comment_parse,
    "live_comments": _comment_parse,
    "mentions": _mention_parse,
    "story_insights": _story_insights_parse,
}


# ---------------------------------------------------------------------------
# Messaging items: message, message_edit, reaction, postback, read, referral


def _messaging_item_parse(item: dict[str, Any], context: _Context) -> DomainEvent:
    webhook_field = messaging_field_for(item)
    parser = _MESSAGING_PARSERS.get(webhook_field)
    if parser is None:
        return UnknownEvent(
            webhook_field=webhook_field,
            payload=item,
            reason="a messaging item of a kind InstaForge does not parse",
            **context.kwargs(),
        )
    sender_id = _text(_object(item.get("sender")).get("id"), limit=ID_MAX_LENGTH)
    if sender_id is None:
        raise MalformedEvent(webhook_field, "sender.id")
    common: dict[str, Any] = {
        "webhook_field": webhook_field,
        "sender_id": sender_id,
        "recipient_id": _text(_object(item.get("recipient")).get("id"), limit=ID_MAX_LENGTH) or "",
        "timestamp": meta_time_parse(item.get("timestamp")),
        **context.kwargs(),
    }
    return parser(item, common)


def _message_parse(item: dict[str, Any], common: dict[str, Any]) -> MessageEvent:
    message = _object(item.get("message"))
    mid = _text(message.get("mid"), limit=MID_MAX_LENGTH)
    if mid is None:
        raise MalformedEvent("messages", "message.mid")
    reply_to = _object(message.get("reply_to"))
    story = _object(reply_to.get("story"))
    referral = message.get("referral")
    return MessageEvent(
        mid=mid,
        text=_text(message.get("text")) or "",
        attachments=tuple(
            _attachment_parse(raw) for raw in _array(message.get("attachments")) if isinstance(raw, dict)
        ),
        quick_reply_payload=_text(_object(message.get("quick_reply")).get("payload")),
        reply_to=(
            ReplyTo(mid=_text(reply_to.get("mid")), story_id=_text(story.get("id")), story_url=_text(story.get("url")))
            if reply_to
            else None
        ),
        referral=_referral_parse(referral) if isinstance(referral, dict) else None,
        is_echo=message.get("is_echo") is True,
        is_deleted=message.get("is_deleted") is True,
        is_unsupported=message.get("is_unsupported") is True,
        is_self=message.get("is_self") is True or item.get("is_self") is True,
        **common,
    )


def _attachment_parse(raw: dict[str, Any]) -> Attachment:
    payload = _object(raw.get("payload"))
    return Attachment(
        type=_text(raw.get("type")) or "",
        url=_text(payload.get("url")),
        title=_text(payload.get("title")),
        media_id=_text(payload.get("ig_post_media_id")),
    )


def _referral_parse(raw: dict[str, Any]) -> Referral:
    context = raw.get("ads_context_data")
    return Referral(
        ref=_text(raw.get("ref")),
        source=_text(raw.get("source")),
        type=_text(raw.get("type")),
        ad_id=_text(raw.get("ad_id")),
        ads_context=(
            AdContext(
                ad_title=_text(context.get("ad_title")),
                photo_url=_text(context.get("photo_url")),
                video_url=_text(context.get("video_url")),
            )
            if isinstance(context, dict)
            else None
        ),
        product_id=_text(_object(raw.get("product")).get("id")),
    )


def _message_edit_parse(item: dict[str, Any], common: dict[str, Any]) -> MessageEditEvent:
    edit = _object(item.get("message_edit"))
    mid = _text(edit.get("mid"), limit=MID_MAX_LENGTH)
    if mid is None:
        raise MalformedEvent("message_edit", "message_edit.mid")
    return MessageEditEvent(
        mid=mid, text=_text(edit.get("text")) or "", num_edit=_integer(edit.get("num_edit")), **common
    )


def _reaction_parse(item: dict[str, Any], common: dict[str, Any]) -> ReactionEvent:
    reaction = _object(item.get("reaction"))
    mid = _text(reaction.get("mid"), limit=MID_MAX_LENGTH)
    if mid is None:
        raise MalformedEvent("message_reactions", "reaction.mid")
    return ReactionEvent(
        mid=mid,
        action=_text(reaction.get("action")) or "",
        reaction=_text(reaction.get("reaction")),
        emoji=_text(reaction.get("emoji")),
        **common,
    )


def _postback_parse(item: dict[str, Any], common: dict[str, Any]) -> PostbackEvent:
    postback = _object(item.get("postback"))
    referral = postback.get("referral")
    return PostbackEvent(
        mid=_text(postback.get("mid"), limit=MID_MAX_LENGTH),
        title=_text(postback.get("title")) or "",
        payload=_text(postback.get("payload")) or "",
        referral=_referral_parse(referral) if isinstance(referral, dict) else None,
        is_self=item.get("is_self") is True,
        **common,
    )


def _seen_parse(item: dict[str, Any], common: dict[str, Any]) -> SeenEvent:
    read = _object(item.get("read"))
    mid, watermark = _text(read.get("mid"), limit=MID_MAX_LENGTH), _integer(read.get("watermark"))
    if mid is None and watermark is None:
        raise MalformedEvent("messaging_seen", "read.mid or read.watermark")
    return SeenEvent(mid=mid, watermark=watermark, **common)


def _referral_event_parse(item: dict[str, Any], common: dict[str, Any]) -> ReferralEvent:
    referral = _object(item.get("referral"))
    return ReferralEvent(
        ref=_text(referral.get("ref")), source=_text(referral.get("source")), type=_text(referral.get("type")), **common
    )


_MESSAGING_PARSERS: Final[dict[str, Callable[[dict[str, Any], dict[str, Any]], DomainEvent]]] = {
    "messages": _message_parse,
    "message_edit": _message_edit_parse,
    "message_reactions": _reaction_parse,
    "messaging_postbacks": _postback_parse,
    "messaging_seen": _seen_parse,
    "messaging_referral": _referral_event_parse,
}


# ---------------------------------------------------------------------------
# Dedupe keys


def _change_dedupe_key(field: str, value: dict[str, Any]) -> str | None:
    if field in ("comments", "live_comments"):
        comment_id = _text(value.get("id")) or _text(value.get("comment_id"))
        return f"{field}:{comment_id}" if comment_id else None
    if field == "mentions":
        media_id, comment_id = _text(value.get("media_id")), _text(value.get("comment_id"))
        if media_id is None:
            return None
        return f"mentions:{media_id}:{comment_id}" if comment_id else f"mentions:{media_id}"
    if field == "story_insights":
        # Meta's "time" is when it sent the notification, which a retry may change;
        # the metrics themselves are what a redelivery repeats.
        media_id = _text(value.get("media_id"))
        return f"story_insights:{media_id}:{_digest(value)}" if media_id else None
    return None


def _messaging_dedupe_key(item: dict[str, Any]) -> str | None:
    kind = messaging_field_for(item)
    sender_id = _text(_object(item.get("sender")).get("id")) or ""
    if kind == "messages":
        message = item["message"]
        mid = _text(message.get("mid"))
        if mid is None:
            return None
        # A deletion carries the mid of the message it deletes: it must not look like its redelivery.
        return f"message_deleted:{mid}" if message.get("is_deleted") is True else f"message:{mid}"
    if kind == "message_edit":
        edit = item["message_edit"]
        mid = _text(edit.get("mid"))
        return f"message_edit:{mid}:{_text(edit.get('num_edit')) or ''}" if mid else None
    if kind == "message_reactions":
        reaction = item["reaction"]
        mid = _text(reaction.get("mid"))
        if mid is None:
            return None
        # react, unreact, react again: the timestamp keeps the third apart from the first.
        parts = [
            mid,
            sender_id,
            _text(reaction.get("action")) or "",
            _text(reaction.get("reaction")) or "",
            _text(item.get("timestamp")) or "",
        ]
        return "reaction:" + ":".join(parts)
    if kind == "messaging_seen":
        read = item["read"]
        mid, watermark = _text(read.get("mid")), _text(read.get("watermark"))
        if mid:
            return f"seen:{sender_id}:{mid}"
        return f"seen:{sender_id}:w{watermark}" if watermark else None
    if kind == "messaging_postbacks":
        mid = _text(item["postback"].get("mid"))
        return f"postback:{mid}" if mid else None
    return None


def _fit(key: str) -> str:
    if len(key) <= DEDUPE_KEY_MAX_LENGTH:
        return key
    prefix = key.split(":", 1)[0][:60]
    return f"{prefix}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# ---------------------------------------------------------------------------
# Tolerant readers


def _change_value(payload: dict[str, Any]) -> dict[str, Any]:
    value = payload.get("value")
    return value if isinstance(value, dict) else payload


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any, *, limit: int | None = None) -> str | None:
    """A string or a number as text (Meta quotes most ids, not all); anything else is missing.

    With ``limit``, a text longer than that is missing too: no id Meta issues is
    that long, and the columns the ids go into would refuse it (PostgreSQL).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        return None
    if not text or (limit is not None and len(text) > limit):
        return None
    return text


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def meta_time_parse(value: Any) -> datetime | None:
    """One of Meta's times as an aware datetime: milliseconds in messaging, seconds in changes.

    Never raises: anything that is not such a time (not a number or numeric
    text, a boolean, NaN, an infinity, a number too big for a float, a moment
    before 1970 or from ``LATEST_META_TIME`` on) is ``None``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):  # not numeric text; an int too big for a float
        return None
    if not math.isfinite(number) or number < 0:
        return None
    seconds = number / 1000 if number > MILLISECONDS_FROM else number
    if seconds >= _LATEST_META_SECONDS:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)
