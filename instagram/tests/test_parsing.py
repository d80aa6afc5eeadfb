"""Webhook payloads into typed domain events: documented examples, unknown fields, partial payloads, dedupe keys."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from instagram.parsing import (
    INSTAGRAM_ATTACHMENT_TYPES,
    AdContext,
    Attachment,
    CommentAuthor,
    CommentEvent,
    CommentMedia,
    DomainEvent,
    MalformedEvent,
    MentionEvent,
    MessageEditEvent,
    MessageEvent,
    PostbackEvent,
    ReactionEvent,
    Referral,
    ReferralEvent,
    ReplyTo,
    SeenEvent,
    StoryInsightsEvent,
    UnknownEvent,
    dedupe_key_for,
    event_parse,
    messaging_field_for,
)
from instagram.services import ParsedChange, webhook_parse

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
# Fixtures named webhook_* that are not deliveries.
NOT_DELIVERIES = {"webhook_verification.json"}

ACCOUNT = "17841405822304914"  # the app user's Instagram professional account (SOURCES.md)
IGSID = "1234567890123456"  # the customer's Instagram-scoped id
SELF_IGSID = "9876543210987654"  # the account's own Instagram-scoped id (self messaging)
MEDIA = "17918195224117851"
STORY = "18023345989012587"
TEXT_FIXTURE_MID = (
    "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTg0NjQ4NjE2MzAwMDAwMA"
)
POST_TITLE = "Build a workspace that attracts talent and supports your team with solutions made for growing businesses."


def mid(number: int) -> str:
    """The invented opaque message ids of the fixtures (SOURCES.md: "Message mid: an invented opaque string")."""
    raw = f"ig_message_item:1:IGMessage:{ACCOUNT}:34028236684171030124425984648616300000{number:02d}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cdn(asset: str) -> str:
    return f"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={asset}&signature=AbExampleSignature"


def at(epoch: int) -> datetime:
    """Meta's times: milliseconds in messaging, seconds in changes."""
    return datetime.fromtimestamp(epoch / 1000 if epoch > 10**11 else epoch, tz=UTC)


def incoming(*, entry_time: int = 1569262486134, timestamp: int = 1569262485349) -> dict[str, Any]:
    return {
        "webhook_field": "messages",
        "entry_id": ACCOUNT,
        "entry_time": at(entry_time),
        "sender_id": IGSID,
        "recipient_id": ACCOUNT,
        "timestamp": at(timestamp),
    }


def to_customer(*, sender: str = ACCOUNT, recipient: str = IGSID) -> dict[str, Any]:
    return {**incoming(), "sender_id": sender, "recipient_id": recipient}


def commenter() -> CommentAuthor:
    return CommentAuthor(id=IGSID, username="commenter_example")


SHARED_POST = Attachment(type="share", url=cdn("18139494541428835"), title=POST_TITLE, media_id="18139494541428835")

EXPECTATIONS: dict[str, list[DomainEvent]] = {
    "webhook_comments.json": [
        CommentEvent(
            webhook_field="comments",
            entry_id=ACCOUNT,
            entry_time=at(1520622968),
            comment_id="17865799348089039",
            text="This is an example reply comment.",
            author=commenter(),
            media=CommentMedia(id=MEDIA, media_product_type="FEED"),
            parent_id="17870913679156914",
            is_live=False,
        )
    ],
    "webhook_comments_ig_login_doc_literal.json": [
        CommentEvent(
            webhook_field="comments",
            entry_id=ACCOUNT,
            entry_time=at(1520622968),
            comment_id="17865799348089039",
            text="This is an example comment.",
            author=commenter(),
            media=CommentMedia(id=MEDIA, media_product_type="FEED"),
            parent_id=None,
            is_live=False,
        )
    ],
    "webhook_comments_fb_login.json": [
        CommentEvent(
            webhook_field="comments",
            entry_id=ACCOUNT,
            entry_time=at(1520622968),
            comment_id="17865799348089042",
            text="How much is shipping?",
            author=commenter(),
            media=CommentMedia(
                id="17918195224117853",
                media_product_type="AD",
                ad_id="120210000000000001",
                ad_title="Summer sale",
                original_media_id=MEDIA,
            ),
            parent_id="17870913679156914",
            is_live=False,
        )
    ],
    "webhook_comments_self.json": [
        CommentEvent(
            webhook_field="comments",
            entry_id=ACCOUNT,
            entry_time=at(1743480368),
            comment_id="17865799348089041",
            text="Thanks everyone for the feedback!",
            author=CommentAuthor(id=ACCOUNT, username="instaforge_demo", self_ig_scoped_id=SELF_IGSID),
            media=CommentMedia(id=MEDIA, media_product_type="FEED"),
            parent_id=None,
            is_live=False,
        )
    ],
    "webhook_live_comments.json": [
        CommentEvent(
            webhook_field="live_comments",
            entry_id=ACCOUNT,
            entry_time=at(1520622968),
            comment_id="17865799348089040",
            text="This is an example live comment.",
            author=commenter(),
            media=CommentMedia(id="17918195224117852", media_product_type="LIVE"),
            parent_id=None,
            is_live=True,
        )
    ],
    "webhook_mentions_comment.json": [
        MentionEvent(
            webhook_field="mentions",
            entry_id="17841405726653026",
            entry_time=at(1520622968),
            media_id=MEDIA,
            comment_id="17894227972186120",
        )
    ],
    "webhook_mentions_media.json": [
        MentionEvent(
            webhook_field="mentions",
            entry_id="17841405726653026",
            entry_time=at(1520622968),
            media_id=MEDIA,
            comment_id=None,
        )
    ],
    "webhook_story_insights.json": [
        StoryInsightsEvent(
            webhook_field="story_insights",
            entry_id="17841405309211844",
            entry_time=at(1547687043),
            media_id=STORY,
            impressions=28,
            reach=17,
            taps_forward=12,
            taps_back=0,
            exits=1,
            replies=0,
        )
    ],
    "webhook_messages_text.json": [
        MessageEvent(mid=TEXT_FIXTURE_MID, text="Hello, is this still available?", **incoming()),
    ],
    "webhook_messages_image.json": [
        MessageEvent(mid=mid(1), attachments=(Attachment(type="image", url=cdn("17950287386074538")),), **incoming()),
    ],
    "webhook_messages_image_and_video.json": [
        MessageEvent(
            mid=mid(2),
            text="Which one do you have in stock?",
            attachments=(
                Attachment(type="image", url=cdn("17950287386074539")),
                Attachment(type="video", url=cdn("17950287386074540")),
            ),
            **incoming(),
        ),
    ],
    "webhook_messages_ig_reel.json": [
        MessageEvent(mid=mid(3), attachments=(Attachment(type="ig_reel", url=cdn("17950287386074541")),), **incoming()),
    ],
    "webhook_messages_quick_reply.json": [
        MessageEvent(mid=mid(4), text="Yes, please", quick_reply_payload="ORDER_CONFIRM_YES", **incoming()),
    ],
    "webhook_messages_reply_to_story.json": [
        MessageEvent(
            mid=mid(5), text="Love this!", reply_to=ReplyTo(story_id=STORY, story_url=cdn(STORY)), **incoming()
        ),
    ],
    "webhook_messages_reply_to_message.json": [
        MessageEvent(mid=mid(6), text="This one", reply_to=ReplyTo(mid=mid(99)), **incoming()),
    ],
    "webhook_messages_echo.json": [
        MessageEvent(mid=mid(7), text="Thanks for your message!", is_echo=True, **to_customer()),
    ],
    "webhook_messages_echo_self.json": [
        MessageEvent(
            mid=mid(8),
            text="Testing my own automation",
            is_echo=True,
            is_self=True,
            **to_customer(recipient=SELF_IGSID),
        ),
    ],
    "webhook_messages_deleted.json": [MessageEvent(mid=mid(9), is_deleted=True, **incoming())],
    "webhook_messages_unsupported.json": [MessageEvent(mid=mid(10), is_unsupported=True, **incoming())],
    "webhook_messages_story_mention.json": [
        MessageEvent(
            mid=mid(11), attachments=(Attachment(type="story_mention", url=cdn("18023345989012588")),), **incoming()
        ),
    ],
    "webhook_messages_share_legacy.json": [
        MessageEvent(
            mid=mid(12), attachments=(SHARED_POST,), **incoming(entry_time=1761287298065, timestamp=1761287294014)
        ),
    ],
    "webhook_messages_ig_post_share.json": [
        MessageEvent(
            mid=mid(13),
            attachments=(
                SHARED_POST,
                Attachment(
                    type="ig_post", url=cdn("18139494541428835"), title=POST_TITLE, media_id="18139494541428835"
                ),
            ),
            **incoming(entry_time=1761287298065, timestamp=1761287294014),
        ),
    ],
    "webhook_messages_referral_ad.json": [
        MessageEvent(
            mid=mid(14),
            text="Is this still available?",
            referral=Referral(
                ref="summer_sale",
                source="ADS",
                type="OPEN_THREAD",
                ad_id="120210000000000001",
                ads_context=AdContext(
                    ad_title="Summer sale",
                    photo_url="https://scontent.cdninstagram.com/v/t51.2885-15/ad_photo_example.jpg",
                    video_url="https://scontent.cdninstagram.com/v/t51.2885-15/ad_video_thumbnail_example.jpg",
                ),
            ),
            **incoming(),
        ),
    ],
    "webhook_messages_referral_product.json": [
        MessageEvent(mid=mid(15), referral=Referral(product_id="5076473249069497"), **incoming()),
    ],
    "webhook_messages_ephemeral.json": [
        MessageEvent(mid=mid(16), attachments=(Attachment(type="ephemeral"),), **incoming()),
    ],
    "webhook_message_edit.json": [
        MessageEditEvent(
            mid=mid(20),
            text="Hello, is this still available in blue?",
            num_edit=1,
            **{**incoming(), "webhook_field": "message_edit"},
        ),
    ],
    "webhook_message_reactions.json": [
        ReactionEvent(
            mid=mid(17),
            action="react",
            reaction="love",
            emoji="\u2764\ufe0f",
            **{**incoming(), "webhook_field": "message_reactions"},
        ),
    ],
    "webhook_message_reactions_unreact.json": [
        ReactionEvent(
            mid=mid(17),
            action="unreact",
            reaction=None,
            emoji=None,
            **{**incoming(timestamp=1569262495349), "webhook_field": "message_reactions"},
        ),
    ],
    "webhook_messaging_postbacks.json": [
        PostbackEvent(
            mid=mid(18),
            title="Track my order",
            payload="TRACK_ORDER",
            **{
                **incoming(entry_time=1502905976963, timestamp=1502905976377),
                "webhook_field": "messaging_postbacks",
            },
        ),
    ],
    "webhook_messaging_postbacks_self.json": [
        PostbackEvent(
            mid=mid(19),
            title="Start Chatting",
            payload="DEVELOPER_DEFINED_PAYLOAD",
            is_self=True,
            webhook_field="messaging_postbacks",
            entry_id="45202218377435",
            entry_time=at(1743480368963),
            sender_id="45202218377435",
            recipient_id=SELF_IGSID,
            timestamp=at(1743480368714),
        ),
    ],
    "webhook_messaging_referral.json": [
        ReferralEvent(
            ref="summer_sale",
            source="https://ig.me/m/instaforge_demo?ref=summer_sale",
            type="OPEN_THREAD",
            **{
                **incoming(entry_time=1502905976963, timestamp=1502905976377),
                "webhook_field": "messaging_referral",
            },
        ),
    ],
    "webhook_messaging_seen.json": [
        SeenEvent(mid=mid(7), watermark=None, **{**incoming(), "webhook_field": "messaging_seen"}),
    ],
}


def delivery_fixtures() -> list[str]:
    return sorted(path.name for path in FIXTURES.glob("webhook_*.json") if path.name not in NOT_DELIVERIES)


def changes_of(name: str) -> list[ParsedChange]:
    return webhook_parse(body=(FIXTURES / name).read_bytes())


def parse(change: ParsedChange) -> DomainEvent:
    return event_parse(
        field=change.field, payload=change.payload, entry_id=change.entry_id, entry_time=change.entry_time
    )


def key_of(change: ParsedChange) -> str:
    return dedupe_key_for(field=change.field, entry_id=change.entry_id, payload=change.payload)


# ---------------------------------------------------------------------------
# Every documented example


@pytest.mark.parametrize("name", delivery_fixtures())
def test_every_documented_example_parses_into_its_event(name: str) -> None:
    assert name in EXPECTATIONS, f"{name} has no expectation: add what it must parse into to EXPECTATIONS"
    assert [parse(change) for change in changes_of(name)] == EXPECTATIONS[name]


def test_every_expectation_has_its_fixture() -> None:
    assert set(EXPECTATIONS) == set(delivery_fixtures())


def test_every_webhook_field_has_a_documented_example() -> None:
    fields = {event.webhook_field for events in EXPECTATIONS.values() for event in events}
    assert fields >= {
        "comments",
        "live_comments",
        "mentions",
        "messages",
        "message_edit",
        "message_reactions",
        "messaging_postbacks",
        "messaging_referral",
        "messaging_seen",
        "story_insights",
    }


@pytest.mark.parametrize("name", delivery_fixtures())
def test_a_messaging_item_names_the_field_it_belongs_to(name: str) -> None:
    for change, expected in zip(changes_of(name), EXPECTATIONS.get(name, []), strict=False):
        if change.field == "messaging":
            assert messaging_field_for(change.payload) == expected.webhook_field


def test_the_ids_of_a_conversation_are_read_from_both_sides() -> None:
    (received,) = EXPECTATIONS["webhook_messages_text.json"]
    (sent,) = EXPECTATIONS["webhook_messages_echo.json"]
    assert isinstance(received, MessageEvent) and isinstance(sent, MessageEvent)
    assert received.customer_id == sent.customer_id == IGSID


def test_every_attachment_type_instagram_lists_is_known() -> None:
    for attachment_type in INSTAGRAM_ATTACHMENT_TYPES:
        item = {
            "sender": {"id": IGSID},
            "recipient": {"id": ACCOUNT},
            "message": {"mid": "m1", "attachments": [{"type": attachment_type, "payload": {"url": "https://cdn/x"}}]},
        }
        event = event_parse(field="messaging", payload=item, entry_id=ACCOUNT, entry_time=None)
        assert isinstance(event, MessageEvent)
        (attachment,) = event.attachments
        assert (attachment.type, attachment.url, attachment.is_known_type) == (attachment_type, "https://cdn/x", True)


def test_an_attachment_of_an_undocumented_type_is_kept_with_its_type() -> None:
    item = {"sender": {"id": IGSID}, "message": {"mid": "m1", "attachments": [{"type": "hologram"}]}}
    event = event_parse(field="messaging", payload=item, entry_id=ACCOUNT, entry_time=None)
    assert isinstance(event, MessageEvent)
    assert event.attachments == (Attachment(type="hologram"),)
    assert not event.attachments[0].is_known_type


def test_messenger_read_receipts_with_a_watermark_parse_too() -> None:
    item = {"sender": {"id": IGSID}, "recipient": {"id": ACCOUNT}, "timestamp": 1458668856463}
    event = event_parse(
        field="messaging", payload={**item, "read": {"watermark": 1458668856253}}, entry_id=ACCOUNT, entry_time=None
    )
    assert isinstance(event, SeenEvent)
    assert (event.mid, event.watermark) == (None, 1458668856253)


def test_a_messaging_field_delivered_as_a_change_parses_like_an_item() -> None:
    """The Graph API webhooks reference describes messaging fields as field/value changes (App Dashboard tests)."""
    (change,) = changes_of("webhook_messages_text.json")
    as_change = {"field": "messages", "value": change.payload}
    event = event_parse(field="messages", payload=as_change, entry_id=ACCOUNT, entry_time=change.entry_time)
    assert event == EXPECTATIONS["webhook_messages_text.json"][0]
    assert dedupe_key_for(field="messages", entry_id=ACCOUNT, payload=as_change) == key_of(change)


def test_the_bare_value_of_a_change_is_accepted() -> None:
    (change,) = changes_of("webhook_comments.json")
    event = event_parse(
        field="comments", payload=change.payload["value"], entry_id=ACCOUNT, entry_time=change.entry_time
    )
    assert event == EXPECTATIONS["webhook_comments.json"][0]


def test_story_metrics_below_five_stay_minus_one() -> None:
    value = {"media_id": STORY, "impressions": -1, "reach": -1, "taps_forward": 7, "replies": "-1"}
    event = event_parse(field="story_insights", payload={"value": value}, entry_id=ACCOUNT, entry_time=None)
    assert isinstance(event, StoryInsightsEvent)
    assert (event.impressions, event.reach, event.taps_forward, event.taps_back, event.replies) == (-1, -1, 7, None, -1)


# ---------------------------------------------------------------------------
# Unknown fields and partial payloads


def test_an_unknown_field_becomes_an_unknown_event_that_keeps_everything() -> None:
    change = {"field": "some_future_field", "value": {"anything": [1, 2]}}
    event = event_parse(field="some_future_field", payload=change, entry_id="1", entry_time=None)
    assert isinstance(event, UnknownEvent)
    assert (event.webhook_field, event.payload, event.entry_id) == ("some_future_field", change, "1")
    assert event.reason


@pytest.mark.parametrize(
    ("item", "webhook_field"),
    [
        ({"sender": {"id": IGSID}, "delivery": {"mids": ["m1"]}}, "messaging"),
        ({"sender": {"id": IGSID}, "optin": {"ref": "x"}}, "messaging"),
        ({"sender": {"id": IGSID}, "pass_thread_control": {"new_owner_app_id": "1"}}, "messaging_handover"),
        ({}, "messaging"),
    ],
)
def test_a_messaging_item_of_an_unparsed_kind_is_kept(item: dict[str, Any], webhook_field: str) -> None:
    event = event_parse(field="messaging", payload=item, entry_id=ACCOUNT, entry_time=None)
    assert isinstance(event, UnknownEvent)
    assert (event.webhook_field, event.payload) == (webhook_field, item)


def test_a_payload_that_is_not_an_object_is_kept_as_unknown() -> None:
    payload: Any = ["not", "an", "object"]
    event = event_parse(field="comments", payload=payload, entry_id=ACCOUNT, entry_time=None)
    assert isinstance(event, UnknownEvent)
    assert event.payload == {"raw": ["not", "an", "object"]}
    assert dedupe_key_for(field="comments", entry_id=ACCOUNT, payload=payload).startswith(f"comments:{ACCOUNT}:")


@pytest.mark.parametrize(
    ("field", "payload", "missing"),
    [
        ("comments", {"field": "comments", "value": {"text": "no id"}}, "comment id"),
        ("live_comments", {"field": "live_comments", "value": {}}, "comment id"),
        ("mentions", {"field": "mentions", "value": {"comment_id": "1"}}, "media_id"),
        ("story_insights", {"field": "story_insights", "value": {"reach": 3}}, "media_id"),
        ("messaging", {"sender": {"id": IGSID}, "message": {"text": "no mid"}}, "message.mid"),
        ("messaging", {"message": {"mid": "m1"}}, "sender.id"),
        ("messaging", {"sender": {"id": IGSID}, "reaction": {"action": "react"}}, "reaction.mid"),
        ("messaging", {"sender": {"id": IGSID}, "read": {}}, "read.mid or read.watermark"),
        ("messaging", {"sender": {"id": IGSID}, "message_edit": {"text": "x"}}, "message_edit.mid"),
    ],
)
def test_a_known_field_without_its_ids_is_malformed(field: str, payload: dict[str, Any], missing: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        event_parse(field=field, payload=payload, entry_id=ACCOUNT, entry_time=None)
    assert raised.value.missing == missing
    assert missing in str(raised.value)


def test_partial_payloads_fill_defaults() -> None:
    item = {
        "sender": {"id": 1234567890123456},  # a number where Meta sends a string
        "timestamp": "soon",
        "message": {
            "mid": "m1",
            "text": None,
            "attachments": [{"type": "image"}, "junk", {"payload": {"url": 5}}],
            "quick_reply": "not an object",
            "is_echo": "true",
        },
    }
    event = event_parse(field="messaging", payload=item, entry_id=ACCOUNT, entry_time=None)
    assert event == MessageEvent(
        webhook_field="messages",
        entry_id=ACCOUNT,
        entry_time=None,
        sender_id=IGSID,
        recipient_id="",
        timestamp=None,
        mid="m1",
        attachments=(Attachment(type="image"), Attachment(type="", url="5")),
    )
    postback = event_parse(
        field="messaging", payload={"sender": {"id": IGSID}, "postback": {}}, entry_id=ACCOUNT, entry_time=None
    )
    assert postback == PostbackEvent(
        webhook_field="messaging_postbacks",
        entry_id=ACCOUNT,
        entry_time=None,
        sender_id=IGSID,
        recipient_id="",
        timestamp=None,
        mid=None,
        title="",
        payload="",
    )
    comment = event_parse(
        field="comments", payload={"value": {"id": "1", "from": [], "media": 7}}, entry_id="", entry_time=None
    )
    assert comment == CommentEvent(
        webhook_field="comments",
        entry_id="",
        entry_time=None,
        comment_id="1",
        text="",
        author=CommentAuthor(id=None, username=None),
        media=CommentMedia(id=None),
        parent_id=None,
        is_live=False,
    )


def mutations(document: Any) -> Iterator[Any]:
    """Copies of ``document`` with one key removed, or one value replaced by something of another type."""
    if isinstance(document, dict):
        for key in document:
            without = dict(document)
            del without[key]
            yield without
            replacements: tuple[Any, ...] = (None, [], {}, "", 0, True, "x")
            for replacement in replacements:
                yield {**document, key: replacement}
            for mutated in mutations(document[key]):
                yield {**document, key: mutated}
    elif isinstance(document, list):
        for index, element in enumerate(document):
            yield document[:index] + document[index + 1 :]
            for mutated in mutations(element):
                yield [*document[:index], mutated, *document[index + 1 :]]


@pytest.mark.parametrize("name", delivery_fixtures())
def test_no_partial_or_mistyped_payload_crashes(name: str) -> None:
    """Each key dropped or retyped in turn: an event or MalformedEvent, never another exception."""
    for change in changes_of(name):
        for payload in mutations(copy.deepcopy(change.payload)):
            try:
                event = event_parse(
                    field=change.field, payload=payload, entry_id=change.entry_id, entry_time=change.entry_time
                )
            except MalformedEvent:
                pass
            else:
                assert event.webhook_field
            key = dedupe_key_for(field=change.field, entry_id=change.entry_id, payload=payload)
            assert 0 < len(key) <= 200


# ---------------------------------------------------------------------------
# Dedupe keys


def test_the_keys_services_already_stores_are_unchanged() -> None:
    (comment,) = changes_of("webhook_comments.json")
    (message,) = changes_of("webhook_messages_text.json")
    assert key_of(comment) == "comments:17865799348089039"
    assert key_of(message) == f"message:{TEXT_FIXTURE_MID}"
    unknown = {"field": "some_future_field", "value": {"b": 1, "a": [1, 2]}}
    digest = hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert dedupe_key_for(field="some_future_field", entry_id="1", payload=unknown) == f"some_future_field:1:{digest}"


@pytest.mark.parametrize("name", delivery_fixtures())
def test_a_redelivered_event_has_the_same_key(name: str) -> None:
    """Meta resends the same JSON, maybe with other whitespace, key order or entry time."""
    document = json.loads((FIXTURES / name).read_bytes())
    for entry in document["entry"]:
        entry["time"] = entry.get("time", 0) + 60_000
    reordered = json.dumps(document, indent=None, sort_keys=True).encode()
    first = [key_of(change) for change in changes_of(name)]
    assert first == [key_of(change) for change in changes_of(name)]
    assert first == [key_of(change) for change in webhook_parse(body=reordered)]


def test_different_events_have_different_keys() -> None:
    # The two comment fixtures are one comment in Meta's two documented shapes: one key is right.
    same_event = {"webhook_comments_ig_login_doc_literal.json"}
    keys = [key_of(change) for name in delivery_fixtures() if name not in same_event for change in changes_of(name)]
    assert len(keys) == len(set(keys))
    (literal,) = changes_of("webhook_comments_ig_login_doc_literal.json")
    (wrapped,) = changes_of("webhook_comments.json")
    assert key_of(literal) == key_of(wrapped)


def test_a_deletion_is_not_mistaken_for_a_redelivery_of_the_message() -> None:
    message = {"sender": {"id": IGSID}, "message": {"mid": "m1", "text": "hi"}}
    deletion = {"sender": {"id": IGSID}, "message": {"mid": "m1", "is_deleted": True}}
    keys = {dedupe_key_for(field="messaging", entry_id=ACCOUNT, payload=item) for item in (message, deletion)}
    assert keys == {"message:m1", "message_deleted:m1"}


def test_react_unreact_react_again_are_three_events() -> None:
    def reaction(action: str, timestamp: int) -> dict[str, Any]:
        body = {"mid": "m1", "action": action, **({"reaction": "love"} if action == "react" else {})}
        return {"sender": {"id": IGSID}, "timestamp": timestamp, "reaction": body}

    items = [reaction("react", 1), reaction("unreact", 2), reaction("react", 3)]
    keys = [dedupe_key_for(field="messaging", entry_id=ACCOUNT, payload=item) for item in items]
    assert len(set(keys)) == 3
    assert keys[0] == f"reaction:m1:{IGSID}:react:love:1"
    other_reader = {**items[0], "sender": {"id": "555"}}
    assert dedupe_key_for(field="messaging", entry_id=ACCOUNT, payload=other_reader) not in keys


def test_keys_for_each_kind_are_built_from_metas_ids() -> None:
    def key(name: str) -> str:
        (change,) = changes_of(name)
        return key_of(change)

    assert key("webhook_comments_fb_login.json") == "comments:17865799348089042"
    assert key("webhook_live_comments.json") == "live_comments:17865799348089040"
    assert key("webhook_mentions_comment.json") == f"mentions:{MEDIA}:17894227972186120"
    assert key("webhook_mentions_media.json") == f"mentions:{MEDIA}"
    assert key("webhook_messaging_postbacks.json") == f"postback:{mid(18)}"
    assert key("webhook_messaging_seen.json") == f"seen:{IGSID}:{mid(7)}"
    assert key("webhook_message_edit.json") == f"message_edit:{mid(20)}:1"
    assert key("webhook_story_insights.json").startswith(f"story_insights:{STORY}:")
    assert key("webhook_messaging_referral.json").startswith(f"messaging:{ACCOUNT}:")


def test_new_story_metrics_for_the_same_story_are_a_new_event() -> None:
    value = {"media_id": STORY, "reach": 17}
    first = dedupe_key_for(
        field="story_insights", entry_id=ACCOUNT, payload={"field": "story_insights", "value": value}
    )
    later = dedupe_key_for(
        field="story_insights", entry_id=ACCOUNT, payload={"field": "story_insights", "value": {**value, "reach": 40}}
    )
    assert first != later


def test_a_key_never_outgrows_its_column() -> None:
    long_mid = "m" * 400
    key = dedupe_key_for(field="messaging", entry_id=ACCOUNT, payload={"message": {"mid": long_mid}})
    assert len(key) <= 200
    assert key.startswith("message:sha256:")
    other = dedupe_key_for(field="messaging", entry_id=ACCOUNT, payload={"message": {"mid": long_mid + "x"}})
    assert other != key
