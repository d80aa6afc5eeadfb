"""The Graph API client over real HTTP against the in-process sandbox: every call the product makes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from instagram.client import InstagramClient
from instagram.errors import (
    InvalidParameterError,
    OutsideMessagingWindowError,
    PermissionDeniedError,
    PrivateReplyUsedError,
    PublishingError,
    PublishingLimitError,
)
from sandbox import selectors, services
from sandbox.models import SandboxAccount, SandboxComment, SandboxContainer, SandboxMedia, SandboxMessage, SandboxToken
from sandbox.testing import SandboxServer, WebhookReceiver
from sandbox.tests.conftest import issue_token


@pytest.fixture
def account(db: None) -> SandboxAccount:
    return services.sandbox_account_create(username="demo_bakery", name="Demo Bakery")


@pytest.fixture
def token(account: SandboxAccount) -> SandboxToken:
    return issue_token(account)


@pytest.fixture
def client(sandbox_server: SandboxServer, token: SandboxToken) -> InstagramClient:
    return InstagramClient(access_token=token.token, max_retries=2)


@pytest.fixture
def post(account: SandboxAccount) -> SandboxMedia:
    media = account.media.first()
    assert media is not None
    return media


def _comment(post: SandboxMedia, username: str = "jane", text: str = "Price?") -> SandboxComment:
    return SandboxComment.objects.create(
        media=post, from_id=services.follower_id(username), from_username=username, text=text
    )


# --- media and comments ---------------------------------------------------------------------


def test_media_list_follows_paging_to_the_end(client: InstagramClient, account: SandboxAccount) -> None:
    for number in range(11):
        services.sandbox_media_create(account=account, caption=f"post {number}")

    media = client.media_list(page_size=5)

    assert len(media) == 12
    assert len({item["id"] for item in media}) == 12
    assert {"id", "caption", "media_type", "timestamp", "permalink", "comments_count"} <= set(media[0])
    assert selectors.calls_count(method="GET", path_suffix="/me/media", account=account) == 3


def test_media_iter_stops_at_max_items(client: InstagramClient, account: SandboxAccount) -> None:
    for number in range(9):
        services.sandbox_media_create(account=account, caption=f"post {number}")

    assert len(list(client.media_iter(page_size=3, max_items=4))) == 4
    assert selectors.calls_count(method="GET", path_suffix="/me/media") == 2


def test_comments_list_pages_and_shows_hidden(client: InstagramClient, post: SandboxMedia) -> None:
    comments = [_comment(post, text=f"c{number}") for number in range(7)]
    services.sandbox_comment_hide(comment=comments[0], hide=True)

    listed = client.comments_list(media_id=post.media_id, page_size=3)

    assert [item["text"] for item in listed] == [f"c{number}" for number in range(7)]
    assert listed[0]["hidden"] is True
    assert listed[1]["hidden"] is False
    assert listed[0]["from"] == {"id": services.follower_id("jane"), "username": "jane"}


def test_comment_hide_unhide_and_delete(client: InstagramClient, post: SandboxMedia) -> None:
    comment = _comment(post)

    assert client.comment_hide(comment_id=comment.comment_id, hide=True) == {"success": True}
    comment.refresh_from_db()
    assert comment.hidden is True
    assert client.comment_hide(comment_id=comment.comment_id, hide=False) == {"success": True}
    comment.refresh_from_db()
    assert comment.hidden is False
    assert client.comment_delete(comment_id=comment.comment_id) == {"success": True}
    assert not SandboxComment.objects.filter(pk=comment.pk).exists()
    with pytest.raises(InvalidParameterError):
        client.comment_delete(comment_id=comment.comment_id)


# --- messaging ---------------------------------------------------------------------------------


def _follower_writes(account: SandboxAccount, webhook_receiver: WebhookReceiver, text: str = "Hi!") -> SandboxMessage:
    return services.sandbox_follower_message(account=account, from_username="jane", text=text)


def test_send_text_quick_replies_template_and_media(
    client: InstagramClient, account: SandboxAccount, webhook_receiver: WebhookReceiver
) -> None:
    incoming = _follower_writes(account, webhook_receiver)
    igsid = incoming.conversation.follower_id

    text = client.message_send_text(recipient_id=igsid, text="Hello!")
    quick = client.message_send_text(
        recipient_id=igsid, text="Which?", quick_replies=[{"title": "Bread", "payload": "BREAD"}]
    )
    template = client.message_send_generic_template(
        recipient_id=igsid,
        elements=[
            {
                "title": "Sourdough",
                "subtitle": "5 EUR",
                "buttons": [{"type": "postback", "title": "Buy", "payload": "BUY"}],
            }
        ],
    )
    media = client.message_send_media(recipient_id=igsid, media_type="image", url="https://example.com/bread.jpg")

    for answer in (text, quick, template, media):
        assert answer["recipient_id"] == igsid
        assert SandboxMessage.objects.filter(mid=answer["message_id"], from_follower=False).exists()
    assert SandboxMessage.objects.get(mid=quick["message_id"]).payload["quick_replies"][0]["content_type"] == "text"


def test_outside_the_24_hour_window_is_refused_and_not_retried(
    client: InstagramClient, account: SandboxAccount, webhook_receiver: WebhookReceiver
) -> None:
    incoming = _follower_writes(account, webhook_receiver)
    conversation = incoming.conversation
    conversation.last_follower_message_at = timezone.now() - timedelta(hours=25)
    conversation.save()

    with pytest.raises(OutsideMessagingWindowError) as caught:
        client.message_send_text(recipient_id=conversation.follower_id, text="Too late")

    assert (caught.value.code, caught.value.subcode) == (10, 2018278)
    assert selectors.calls_count(method="POST", path_suffix="/me/messages") == 1


def test_human_agent_tag_extends_the_window_to_seven_days(
    client: InstagramClient, account: SandboxAccount, webhook_receiver: WebhookReceiver
) -> None:
    conversation = _follower_writes(account, webhook_receiver).conversation
    conversation.last_follower_message_at = timezone.now() - timedelta(days=3)
    conversation.save()

    sent = client.message_send_text(recipient_id=conversation.follower_id, text="A person here", human_agent=True)

    assert SandboxMessage.objects.filter(mid=sent["message_id"]).exists()
    conversation.last_follower_message_at = timezone.now() - timedelta(days=8)
    conversation.save()
    with pytest.raises(OutsideMessagingWindowError):
        client.message_send_text(recipient_id=conversation.follower_id, text="Too late", human_agent=True)


def test_sender_actions(client: InstagramClient, account: SandboxAccount, webhook_receiver: WebhookReceiver) -> None:
    incoming = _follower_writes(account, webhook_receiver)
    igsid = incoming.conversation.follower_id

    assert client.sender_action(recipient_id=igsid, action="typing_on") == {"recipient_id": igsid}
    assert client.sender_action(recipient_id=igsid, action="mark_seen") == {"recipient_id": igsid}
    reacted = client.sender_action(recipient_id=igsid, action="react", message_id=incoming.mid, reaction="love")
    incoming.refresh_from_db()
    assert (reacted["message_id"], incoming.reaction) == (incoming.mid, "love")
    client.sender_action(recipient_id=igsid, action="unreact", message_id=incoming.mid)
    incoming.refresh_from_db()
    assert incoming.reaction == ""


def test_private_reply_once_per_comment_within_seven_days(client: InstagramClient, post: SandboxMedia) -> None:
    comment = _comment(post)
    old = _comment(post, username="john")
    SandboxComment.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(days=8))

    sent = client.private_reply(comment_id=comment.comment_id, text="Sent you the price!")

    assert sent["recipient_id"] == comment.from_id
    assert SandboxMessage.objects.get(mid=sent["message_id"]).private_reply_to == comment
    with pytest.raises(PrivateReplyUsedError):
        client.private_reply(comment_id=comment.comment_id, text="again")
    with pytest.raises(OutsideMessagingWindowError):
        client.private_reply(comment_id=old.comment_id, text="late")
    # A private reply does not open the window: only the person's own message does.
    with pytest.raises(OutsideMessagingWindowError):
        client.message_send_text(recipient_id=comment.from_id, text="follow-up")


def test_conversations_messages_and_profile(
    client: InstagramClient, account: SandboxAccount, webhook_receiver: WebhookReceiver
) -> None:
    incoming = _follower_writes(account, webhook_receiver, text="Do you deliver?")
    igsid = incoming.conversation.follower_id
    reply = client.message_send_text(recipient_id=igsid, text="Yes!")

    [conversation] = client.conversations_list()
    [same] = client.conversations_list(user_id=igsid)
    messages = client.conversation_messages(conversation_id=conversation["id"])
    newest = client.message_get(message_id=messages[0]["id"])
    oldest = client.message_get(message_id=messages[1]["id"])
    profile = client.user_profile(igsid=igsid)

    assert same["id"] == conversation["id"] == incoming.conversation.conversation_id
    assert set(conversation) == {"id", "updated_time"}
    assert [message["id"] for message in messages] == [reply["message_id"], incoming.mid]
    assert (newest["message"], newest["from"]["id"], newest["to"]["data"][0]["id"]) == ("Yes!", account.user_id, igsid)
    assert (oldest["message"], oldest["from"]) == ("Do you deliver?", {"username": "jane", "id": igsid})
    assert profile["username"] == "jane"
    assert set(profile) == {
        "name",
        "username",
        "profile_pic",
        "follower_count",
        "is_user_follow_business",
        "is_business_follow_user",
    }


def test_profile_needs_the_person_to_have_written(client: InstagramClient, post: SandboxMedia) -> None:
    comment = _comment(post)
    client.private_reply(comment_id=comment.comment_id, text="hi")

    with pytest.raises(PermissionDeniedError):
        client.user_profile(igsid=comment.from_id)


# --- publishing -----------------------------------------------------------------------------------


def test_container_in_progress_then_finished_then_published(client: InstagramClient, account: SandboxAccount) -> None:
    services.sandbox_settings_update(container_delay_seconds=3600)
    container_id = client.media_container_create(image_url="https://example.com/a.jpg", caption="New bread")

    assert client.media_container_status(container_id=container_id)["status_code"] == "IN_PROGRESS"
    with pytest.raises(PublishingError) as caught:
        client.media_publish(creation_id=container_id)
    assert caught.value.subcode == 2207027

    SandboxContainer.objects.filter(container_id=container_id).update(ready_at=timezone.now())
    assert client.media_container_status(container_id=container_id)["status_code"] == "FINISHED"
    media_id = client.media_publish(creation_id=container_id)

    assert SandboxMedia.objects.get(media_id=media_id).caption == "New bread"
    assert client.media_container_status(container_id=container_id)["status_code"] == "PUBLISHED"
    assert client.content_publishing_limit() == {
        "quota_usage": 1,
        "config": {"quota_total": 100, "quota_duration": 86400},
    }


def test_publishing_limit_is_enforced(client: InstagramClient) -> None:
    services.sandbox_settings_update(publishing_quota_total=1)
    first = client.media_container_create(image_url="https://example.com/a.jpg")
    second = client.media_container_create(image_url="https://example.com/b.jpg")
    client.media_publish(creation_id=first)

    with pytest.raises(PublishingLimitError) as caught:
        client.media_publish(creation_id=second)

    assert (caught.value.code, caught.value.subcode) == (9, 2207042)


def test_container_error_and_expiry(client: InstagramClient) -> None:
    services.sandbox_settings_update(container_error_ratio=1.0)
    failed = client.media_container_create(image_url="https://example.com/a.jpg")
    services.sandbox_settings_update(container_error_ratio=0.0)
    expired = client.media_container_create(image_url="https://example.com/b.jpg")
    SandboxContainer.objects.filter(container_id=expired).update(created_at=timezone.now() - timedelta(hours=25))

    assert client.media_container_status(container_id=failed)["status_code"] == "ERROR"
    assert client.media_container_status(container_id=expired)["status_code"] == "EXPIRED"
    with pytest.raises(PublishingError):
        client.media_publish(creation_id=expired)


# --- insights and tokens ----------------------------------------------------------------------------


def test_media_and_account_insights(client: InstagramClient, post: SandboxMedia) -> None:
    _comment(post)

    media = client.media_insights(media_id=post.media_id, metrics=["reach", "comments"])
    account = client.account_insights(metrics=["reach"], period="day", metric_type="total_value")

    assert [item["name"] for item in media] == ["reach", "comments"]
    assert media[1]["values"] == [{"value": 1}]
    assert media[0]["id"] == f"{post.media_id}/insights/reach/lifetime"
    assert "value" in account[0]["total_value"]
    with pytest.raises(InvalidParameterError):
        client.media_insights(media_id=post.media_id, metrics=["impressions_v0"])


def test_refresh_long_lived(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    long_lived = InstagramClient().exchange_long_lived(short_lived_token=token.token)

    refreshed = InstagramClient(access_token=long_lived.access_token).refresh_long_lived()

    assert refreshed.access_token not in {token.token, long_lived.access_token}
    assert refreshed.expires_in > 59 * 86400
    assert InstagramClient(access_token=refreshed.access_token).me()["username"] == "demo_bakery"
