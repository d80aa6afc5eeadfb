"""The rest of graph.instagram.com: media, comments, moderation, messaging, publishing, insights.

Shapes follow the pages cited on each view; the matching documented examples
are kept in instagram/tests/fixtures/meta/ (sources in SOURCES.md) and the
conformance tests compare keys and types with what these views emit.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from sandbox import selectors, services
from sandbox.errors import GraphError
from sandbox.models import SandboxAccount, SandboxComment, SandboxContainer, SandboxMedia, SandboxToken
from sandbox.views.base import ApiCall, api_endpoint
from sandbox.views.graph import COMMENT_FIELDS, GRAPH_TIME_FORMAT, _check_fields, _comment_fields, _user_fields

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
PUBLISH_SCOPE = "instagram_business_content_publish"
# Container parameters kept as received (IG User Media reference, "Query String Parameters").
CONTAINER_EXTRA_PARAMS = ("user_tags", "collaborators", "location_id", "alt_text", "share_to_feed")

# Fields of IG Media (https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media).
MEDIA_FIELDS = frozenset(
    {
        "id",
        "caption",
        "media_type",
        "media_product_type",
        "media_url",
        "permalink",
        "timestamp",
        "username",
        "comments_count",
        "like_count",
        "owner",
        "is_comment_enabled",
    }
)
# The User Profile API's fields (https://developers.facebook.com/documentation/instagram-platform/
# instagram-api-with-instagram-login/messaging-api/user-profile).
PROFILE_FIELDS = frozenset(
    {
        "name",
        "username",
        "profile_pic",
        "follower_count",
        "is_user_follow_business",
        "is_business_follow_user",
        "is_verified_user",
    }
)
# Metrics of GET /<INSTAGRAM_MEDIA_ID>/insights for feed posts and reels, as the Instagram Media Insights
# reference lists them (https://developers.facebook.com/documentation/instagram-platform/reference/
# instagram-media/insights, read 2026-12-07); ``impressions`` and ``plays`` are gone since v22.0.
MEDIA_METRICS = {
    "reach": ("Reach", "The number of unique accounts that have seen this media."),
    "views": ("Views", "The number of times this media was played or displayed."),
    "likes": ("Likes", "The number of likes on this media."),
    "comments": ("Comments", "The number of comments on this media."),
    "saved": ("Saved", "The number of saves of this media."),
    "shares": ("Shares", "The number of shares of this media."),
    "total_interactions": ("Total interactions", "Likes, saves, comments and shares, minus unlikes and unsaves."),
}
TOTAL_VALUE = "total_value"
TIME_SERIES = "time_series"
# Metrics of GET /<IG_ID>/insights with the metric types each accepts: the "Interaction Metrics" table of the
# Instagram Account Insights reference (https://developers.facebook.com/documentation/instagram-platform/
# api-reference/instagram-user/insights, read 2026-12-07). ``follower_count`` (new followers per day, a time
# series) is no longer in that table but its "Limitations" still name it and Graph still lists it among the
# valid values in its unknown-metric error; ``impressions`` is refused since v22.0. Titles other than reach's
# ("Accounts reached", the page's example) are not documented.
ACCOUNT_METRICS: dict[str, tuple[str, str, frozenset[str]]] = {
    "reach": (
        "Accounts reached",
        "The number of unique accounts that have seen your content, at least once, including in ads.",
        frozenset({TOTAL_VALUE, TIME_SERIES}),
    ),
    "follower_count": (
        "Follower count",
        "The number of new followers per day.",
        frozenset({TIME_SERIES}),
    ),
    "views": (
        "Views",
        "The number of times your content was played or displayed.",
        frozenset({TOTAL_VALUE}),
    ),
    "accounts_engaged": (
        "Accounts engaged",
        "The number of accounts that have interacted with your content, including in ads.",
        frozenset({TOTAL_VALUE}),
    ),
    "total_interactions": (
        "Content interactions",
        "The total number of post, story, reels, video and live video interactions.",
        frozenset({TOTAL_VALUE}),
    ),
    "profile_links_taps": (
        "Profile links taps",
        "The number of taps on your business address, call button, email button and text button.",
        frozenset({TOTAL_VALUE}),
    ),
    "likes": ("Likes", "The number of likes on your posts, reels, and videos.", frozenset({TOTAL_VALUE})),
    "comments": (
        "Comments",
        "The number of comments on your posts, reels, videos and live videos.",
        frozenset({TOTAL_VALUE}),
    ),
    "shares": (
        "Shares",
        "The number of shares of your posts, stories, reels, videos and live videos.",
        frozenset({TOTAL_VALUE}),
    ),
    "saves": ("Saves", "The number of saves of your posts, reels, and videos.", frozenset({TOTAL_VALUE})),
    "replies": ("Replies", "The number of replies you received from your story.", frozenset({TOTAL_VALUE})),
    "reposts": (
        "Reposts",
        "The number of reposts of your posts, stories, reels, and videos.",
        frozenset({TOTAL_VALUE}),
    ),
}
INSIGHTS_SCOPE = "instagram_business_manage_insights"
# Graph refuses a since/until range longer than this for account insights (its error text, seen in the wild).
INSIGHTS_MAX_RANGE_DAYS = 30


# --- helpers ------------------------------------------------------------------------------


def _graph_time(moment: Any) -> str:
    return str(moment.strftime(GRAPH_TIME_FORMAT))


def _require_scope(token: SandboxToken, scope: str) -> None:
    if scope not in token.scope_list:
        raise GraphError.permission_denied()


def _owner_is(account: SandboxAccount, owner: str) -> bool:
    return owner == "me" or owner in {account.user_id, account.app_scoped_id}


def _owner(call: ApiCall, owner: str) -> SandboxToken:
    token = call.authenticate()
    if not _owner_is(token.account, owner):
        raise GraphError.unknown_object(object_id=owner, method=call.method)
    return token


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(call: ApiCall) -> int:
    raw = str(call.params.get("after") or "")
    if not raw:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        return max(0, int(decoded.removeprefix("offset:")))
    except (ValueError, UnicodeDecodeError):
        raise GraphError.invalid_parameter("Invalid after cursor") from None


def _page_size(call: ApiCall) -> int:
    try:
        return max(1, min(MAX_PAGE_SIZE, int(call.params.get("limit") or DEFAULT_PAGE_SIZE)))
    except ValueError:
        raise GraphError.invalid_parameter("limit must be a number") from None


def _paged(call: ApiCall, items: list[Any], *, offset: int, size: int) -> dict[str, Any]:
    """``data`` plus Graph's cursor ``paging``; ``next`` only when there is more (https://developers.facebook.com/docs/graph-api/results).

    ``items`` holds up to ``size + 1`` rows: the extra one only says another page exists.
    """
    more = len(items) > size
    data = items[:size]
    body: dict[str, Any] = {"data": data}
    if not data:
        return body
    paging: dict[str, Any] = {"cursors": {"before": _cursor(offset), "after": _cursor(offset + len(data))}}
    if more:
        parts = urlsplit(call.url)
        query = dict(parse_qsl(parts.query))
        query["after"] = paging["cursors"]["after"]
        paging["next"] = urlunsplit(parts._replace(query=urlencode(query)))
    body["paging"] = paging
    return body


def _with_id(values: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The requested fields, plus ``id`` last when it was not asked for: Graph always returns a node's id."""
    body = {name: values[name] for name in names if name in values}
    body.setdefault("id", values["id"])
    return body


def _stable_number(seed: str, *, low: int, high: int) -> int:
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
    return low + digest % (high - low + 1)


def _media_fields(media: SandboxMedia, names: list[str]) -> dict[str, Any]:
    _check_fields(names, known=MEDIA_FIELDS, node_type="Media")
    comment_count = getattr(media, "comment_count", None)
    values: dict[str, Any] = {
        "id": media.media_id,
        "caption": media.caption,
        "media_type": media.media_type,
        "media_product_type": media.media_product_type,
        "media_url": media.media_url or f"{settings.SANDBOX_URL}/media/{media.media_id}.jpg",
        "permalink": f"{settings.SANDBOX_URL}/p/{media.media_id}/",
        "timestamp": _graph_time(media.timestamp),
        "username": media.account.username,
        "comments_count": comment_count if comment_count is not None else media.comments.count(),
        "like_count": _stable_number(media.media_id, low=0, high=500),
        "owner": {"id": media.account.user_id},
        "is_comment_enabled": True,
    }
    if not media.caption:
        values.pop("caption")
    return _with_id(values, names)


def _all_comment_fields(comment: SandboxComment, names: list[str]) -> dict[str, Any]:
    _check_fields(names, known=COMMENT_FIELDS, node_type="IGComment")
    values = _comment_fields(comment, names)
    if "hidden" in names:
        values["hidden"] = comment.hidden
    values.setdefault("id", comment.comment_id)
    return values


# --- media and comments ----------------------------------------------------------------------


@api_endpoint(methods={"GET", "POST"})
def user_media(call: ApiCall, owner: str) -> dict[str, Any]:
    """``GET /me/media`` lists posts (paged); ``POST /me/media`` creates a media container.

    https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/media
    and https://developers.facebook.com/documentation/instagram-platform/content-publishing.
    """
    token = _owner(call, owner)
    if call.method == "POST":
        _require_scope(token, PUBLISH_SCOPE)
        image_url = str(call.params.get("image_url") or "")
        video_url = str(call.params.get("video_url") or "")
        default_type = "IMAGE" if image_url else "REELS" if video_url else ""
        media_type = str(call.params.get("media_type") or default_type)
        if not media_type:
            raise GraphError.missing_parameter("image_url")
        children = [item.strip() for item in str(call.params.get("children") or "").split(",") if item.strip()]
        extra = {name: call.params[name] for name in CONTAINER_EXTRA_PARAMS if call.params.get(name)}
        if video_url:
            extra["video"] = True  # a story keeps IMAGE or VIDEO as its media_type
        container = services.sandbox_container_create(
            account=token.account,
            media_type=media_type,
            media_url=image_url or video_url,
            caption=str(call.params.get("caption") or ""),
            is_carousel_item=str(call.params.get("is_carousel_item") or "").lower() == "true",
            children=children,
            extra=extra,
        )
        return {"id": container.container_id}
    names = call.fields(default="id")
    offset, size = _offset(call), _page_size(call)
    page = selectors.media_page(account=token.account, offset=offset, limit=size + 1)
    return _paged(call, [_media_fields(media, names) for media in page], offset=offset, size=size)


@api_endpoint(methods={"GET"})
def user_stories(call: ApiCall, owner: str) -> dict[str, Any]:
    """``GET /me/stories``: the account's live stories (``/me/media`` leaves them out), newest first.

    https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/stories
    """
    token = _owner(call, owner)
    names = call.fields(default="id")
    stories = selectors.stories_live(account=token.account)
    return {"data": [_media_fields(media, names) for media in stories]}


@api_endpoint(methods={"GET", "POST"})
def media_comments(call: ApiCall, media_id: str) -> dict[str, Any]:
    """``GET /{ig-media-id}/comments``: top-level comments, oldest first, paged; ``POST ?message=``: comment.

    https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-media/comments
    (instagram/tests/fixtures/meta/media_comments_response.json). The POST answers ``{"id"}`` of the new comment.
    """
    token = call.authenticate()
    _require_scope(token, services.COMMENT_SCOPE)
    media = selectors.media_of(account=token.account, media_id=media_id)
    if media is None:
        raise GraphError.unknown_object(object_id=media_id, method=call.method)
    if call.method == "POST":
        comment = services.sandbox_owner_comment_create(
            account=token.account, media=media, message=str(call.params.get("message") or "")
        )
        return {"id": comment.comment_id}
    names = call.fields(default="id,text,timestamp")
    offset, size = _offset(call), _page_size(call)
    page = selectors.comments_page(media=media, offset=offset, limit=size + 1)
    return _paged(call, [_all_comment_fields(comment, names) for comment in page], offset=offset, size=size)


# --- messaging ----------------------------------------------------------------------------------


@api_endpoint(methods={"POST"})
def messages(call: ApiCall, owner: str) -> dict[str, Any]:
    """``POST /me/messages``: a message (``recipient.id``), a private reply (``recipient.comment_id``) or an action.

    Answers ``{"recipient_id", "message_id"}``; typing and seen answer ``{"recipient_id"}``
    (https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api,
    .../messaging-api/sender-actions, https://developers.facebook.com/documentation/instagram-platform/private-replies).
    """
    token = _owner(call, owner)
    _require_scope(token, services.MESSAGE_SCOPE)
    recipient = call.object_param("recipient")
    action = str(call.params.get("sender_action") or "")
    if action:
        recipient_id = str(recipient.get("id") or "")
        if not recipient_id:
            raise GraphError.missing_parameter("recipient")
        payload = call.object_param("payload")
        services.sandbox_sender_action(account=token.account, recipient_id=recipient_id, action=action, payload=payload)
        body = {"recipient_id": recipient_id}
        if action in {"react", "unreact"}:
            body["message_id"] = str(payload.get("message_id", ""))
        return body
    message = call.object_param("message")
    if recipient.get("comment_id"):
        sent = services.sandbox_private_reply(
            account=token.account, comment_id=str(recipient["comment_id"]), message=message
        )
    elif recipient.get("id"):
        tag = str(call.params.get("tag") or "") if call.params.get("messaging_type") == "MESSAGE_TAG" else ""
        sent = services.sandbox_message_send(
            account=token.account, recipient_id=str(recipient["id"]), message=message, tag=tag
        )
    else:
        raise GraphError.missing_parameter("recipient")
    return {"recipient_id": sent.conversation.follower_id, "message_id": sent.mid}


@api_endpoint(methods={"GET", "POST", "DELETE"})
def messenger_profile(call: ApiCall, owner: str) -> dict[str, Any]:
    """``/me/messenger_profile`` with ``platform=instagram``: set, read or delete the ice breakers.

    GET answers ``{"data": [{"call_to_actions": [...], "locale"}]}``
    (instagram/tests/fixtures/meta/ice_breakers_get_response.json); POST and DELETE answer
    ``{"result": "success"}`` (not shown on the page; see SOURCES.md).
    """
    token = _owner(call, owner)
    _require_scope(token, services.MESSAGE_SCOPE)
    if str(call.params.get("platform") or "") != "instagram":
        raise GraphError.invalid_parameter("platform must be instagram")
    account = token.account
    if call.method == "GET":
        names = call.fields(default="ice_breakers")
        _check_fields(names, known=frozenset({"ice_breakers"}), node_type="MessengerProfile")
        return {"data": list(account.ice_breakers)}  # the token's account, read for this request
    if call.method == "DELETE":
        fields = call.params.get("fields")
        if isinstance(fields, str):
            fields = [name.strip() for name in fields.strip("[]").replace('"', "").split(",") if name.strip()]
        if not isinstance(fields, list) or not fields:
            raise GraphError.missing_parameter("fields")
        if "ice_breakers" in fields:
            services.sandbox_ice_breakers_clear(account=account)
        return {"result": "success"}
    if "ice_breakers" not in call.params:
        raise GraphError.missing_parameter("ice_breakers")
    ice_breakers = call.params["ice_breakers"]
    if isinstance(ice_breakers, str):
        try:
            ice_breakers = json.loads(ice_breakers)
        except ValueError:
            raise GraphError.invalid_parameter("ice_breakers must be a JSON array") from None
    services.sandbox_ice_breakers_set(account=account, ice_breakers=ice_breakers)
    return {"result": "success"}


@api_endpoint(methods={"GET"})
def conversations(call: ApiCall, owner: str) -> dict[str, Any]:
    """``GET /me/conversations?platform=instagram[&user_id=IGSID]``: ``{"id", "updated_time"}`` per thread, paged.

    https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/conversations-api
    (instagram/tests/fixtures/meta/conversations_response.json).
    """
    token = _owner(call, owner)
    _require_scope(token, services.MESSAGE_SCOPE)
    platform = str(call.params.get("platform") or "instagram")
    if platform != "instagram":
        raise GraphError.invalid_parameter("platform must be instagram")
    names = call.fields(default="id,updated_time")
    _check_fields(names, known=frozenset({"id", "updated_time"}), node_type="Conversation")
    offset, size = _offset(call), _page_size(call)
    user_id = str(call.params.get("user_id") or "") or None
    page = selectors.conversations_page(account=token.account, follower_id=user_id, offset=offset, limit=size + 1)
    rows = []
    for conversation in page:
        values = {"id": conversation.conversation_id, "updated_time": _graph_time(conversation.updated_at)}
        rows.append(_with_id(values, names))
    return _paged(call, rows, offset=offset, size=size)


# --- publishing -----------------------------------------------------------------------------------


@api_endpoint(methods={"POST"})
def media_publish(call: ApiCall, owner: str) -> dict[str, Any]:
    """``POST /me/media_publish?creation_id=``: publishes a FINISHED container; answers ``{"id"}`` of the new media."""
    token = _owner(call, owner)
    _require_scope(token, PUBLISH_SCOPE)
    media = services.sandbox_media_publish(account=token.account, creation_id=call.param("creation_id"))
    return {"id": media.media_id}


@api_endpoint(methods={"GET"})
def content_publishing_limit(call: ApiCall, owner: str) -> dict[str, Any]:
    """``GET /me/content_publishing_limit``: ``quota_usage`` (the default field) and ``config``.

    https://developers.facebook.com/documentation/instagram-platform/instagram-graph-api/reference/ig-user/content_publishing_limit
    (instagram/tests/fixtures/meta/content_publishing_limit_response.json). ``since`` may not be older than 24 hours.
    """
    token = _owner(call, owner)
    names = call.fields(default="quota_usage")
    _check_fields(names, known=frozenset({"quota_usage", "config"}), node_type="ContentPublishingLimit")
    now = timezone.now()
    since = now - services.PUBLISHING_WINDOW
    if call.params.get("since"):
        try:
            requested = datetime.fromtimestamp(int(call.params["since"]), tz=UTC)
        except (ValueError, OverflowError):
            raise GraphError.invalid_parameter("since must be a Unix timestamp") from None
        if requested < since:
            raise GraphError.invalid_parameter("since must be no older than 24 hours")
        since = requested
    quota = selectors.sandbox_settings().publishing_quota_total
    values: dict[str, Any] = {
        "quota_usage": selectors.published_via_api_since(account=token.account, since=since),
        "config": {"quota_total": quota, "quota_duration": int(services.PUBLISHING_WINDOW.total_seconds())},
    }
    return {"data": [{name: values[name] for name in names}]}


# --- insights ---------------------------------------------------------------------------------------


def _metrics(call: ApiCall, known: Mapping[str, Any]) -> list[str]:
    """The requested metrics; an unknown one is refused with Graph's own answer (code 100)."""
    names = [name.strip() for name in call.param("metric").split(",") if name.strip()]
    for index, name in enumerate(names):
        if name not in known:
            raise GraphError.invalid_parameter(
                f"metric[{index}] must be one of the following values: {', '.join(known)}"
            )
    return names


def _insights_day_range(call: ApiCall) -> tuple[datetime, datetime]:
    """``since``/``until`` (Unix times; both inclusive of whole UTC days here). Without them: the last 24 hours."""
    now = timezone.now()

    def moment(name: str, default: datetime) -> datetime:
        raw = str(call.params.get(name) or "")
        if not raw:
            return default
        try:
            return datetime.fromtimestamp(int(raw), tz=UTC)
        except (ValueError, OverflowError, OSError):
            raise GraphError.invalid_parameter(f"{name} must be a unix timestamp") from None

    until = moment("until", now)
    since = moment("since", until - timedelta(days=1))
    if until < since:
        raise GraphError.invalid_parameter("since must be before until")
    if until - since > timedelta(days=INSIGHTS_MAX_RANGE_DAYS):
        raise GraphError.invalid_parameter(
            f"There cannot be more than {INSIGHTS_MAX_RANGE_DAYS} days between since and until"
        )
    return since, until


def _account_daily_value(account: SandboxAccount, name: str, day: date) -> int:
    high = 40 if name == "follower_count" else 1000
    return _stable_number(f"{account.user_id}:{name}:{day.isoformat()}", low=0, high=high)


def _account_insights(call: ApiCall, account: SandboxAccount) -> dict[str, Any]:
    """The account's metrics: ``values`` per day (``time_series``, the default) or ``total_value``.

    A metric that only has a total must be asked with ``metric_type=total_value``; Graph answers
    "(#100) The following metrics (…) should be specified with parameter metric_type=total_value" otherwise.
    Values are stable made-up figures per account, metric and UTC day; a total is the sum of its days.
    """
    names = _metrics(call, ACCOUNT_METRICS)
    period = call.param("period")
    if period != "day":
        raise GraphError.invalid_parameter("period must be one of the following values: day")
    metric_type = str(call.params.get("metric_type") or TIME_SERIES)
    if metric_type not in (TIME_SERIES, TOTAL_VALUE):
        raise GraphError.invalid_parameter("metric_type must be one of the following values: time_series, total_value")
    refused = [name for name in names if metric_type not in ACCOUNT_METRICS[name][2]]
    if refused:
        if metric_type == TIME_SERIES:
            raise GraphError.invalid_parameter(
                f"The following metrics ({','.join(refused)}) should be specified with parameter "
                "metric_type=total_value"
            )
        raise GraphError.invalid_parameter(f"metric_type=total_value is not supported for {','.join(refused)}")
    since, until = _insights_day_range(call)
    # The whole UTC days the range touches; a day's end_time is the midnight that closes it.
    days = [since.date() + timedelta(days=offset) for offset in range(max(1, (until.date() - since.date()).days))]
    rows = []
    for name in names:
        title, description, _ = ACCOUNT_METRICS[name]
        row: dict[str, Any] = {"name": name, "period": period, "title": title, "description": description}
        if metric_type == TOTAL_VALUE:
            row["total_value"] = {"value": sum(_account_daily_value(account, name, day) for day in days)}
        else:
            row["values"] = [
                {
                    "value": _account_daily_value(account, name, day),
                    "end_time": _graph_time(datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)),
                }
                for day in days
            ]
        row["id"] = f"{account.user_id}/insights/{name}/{period}"
        rows.append(row)
    return {"data": rows}


@api_endpoint(methods={"GET"})
def insights(call: ApiCall, object_id: str) -> dict[str, Any]:
    """``GET /{ig-media-id}/insights`` or ``GET /me/insights``: ``{"name", "period", "values", "title", …, "id"}``.

    https://developers.facebook.com/documentation/instagram-platform/reference/instagram-media/insights and
    https://developers.facebook.com/documentation/instagram-platform/api-reference/instagram-user/insights
    (examples kept in instagram/tests/fixtures/meta/insights_*.json). Both need the
    ``instagram_business_manage_insights`` permission (code 10 without it). Media values are stable
    made-up figures (comments are real counts).
    """
    token = call.authenticate()
    _require_scope(token, INSIGHTS_SCOPE)
    account = token.account
    if _owner_is(account, object_id):
        return _account_insights(call, account)
    media = selectors.media_of(account=account, media_id=object_id)
    if media is None:
        raise GraphError.unknown_object(object_id=object_id, method=call.method)
    rows = []
    for name in _metrics(call, MEDIA_METRICS):
        title, description = MEDIA_METRICS[name]
        value = (
            media.comments.count()
            if name == "comments"
            else _stable_number(f"{media.media_id}:{name}", low=0, high=900)
        )
        rows.append(
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": title,
                "description": description,
                "id": f"{media.media_id}/insights/{name}/lifetime",
            }
        )
    return {"data": rows}


# --- nodes ----------------------------------------------------------------------------------------------


@api_endpoint(methods={"GET", "POST", "DELETE"})
def node(call: ApiCall, object_id: str) -> dict[str, Any]:
    """``/{id}``: whatever node the id names for this token.

    - comment: ``GET`` fields, ``POST hide=true|false`` and ``DELETE`` answer ``{"success": true}``
      (https://developers.facebook.com/documentation/instagram-platform/comment-moderation);
    - media container: ``GET ?fields=status_code,status``;
    - media: ``GET`` fields; conversation: ``GET ?fields=messages|participants``;
    - message: ``GET ?fields=id,created_time,from,to,message``;
    - a messaging user's IGSID: ``GET`` the User Profile API fields (after they messaged the account).
    """
    token = call.authenticate()
    account = token.account
    if object_id in {account.user_id, account.app_scoped_id} and call.method == "GET":
        return _user_fields(account, call.fields(default="id"))
    comment = selectors.comment_of_account(comment_id=object_id, account=account)
    if comment is not None:
        return _comment_node(call, token, comment)
    if call.method != "GET":
        raise GraphError.unknown_object(object_id=object_id, method=call.method)
    container = selectors.container_of(account=account, container_id=object_id)
    if container is not None:
        return _container_node(call, container)
    media = selectors.media_of(account=account, media_id=object_id)
    if media is not None:
        return _media_fields(media, call.fields(default="id"))
    conversation = selectors.conversation_of(account=account, conversation_id=object_id)
    if conversation is not None:
        return _conversation_node(call, conversation)
    message = selectors.message_of(account=account, mid=object_id)
    if message is not None:
        return _message_node(call, account, message)
    profile = selectors.conversation_with(account=account, follower_id=object_id)
    if profile is not None:
        return _profile_node(call, profile)
    raise GraphError.unknown_object(object_id=object_id, method=call.method)


def _comment_node(call: ApiCall, token: SandboxToken, comment: SandboxComment) -> dict[str, Any]:
    _require_scope(token, services.COMMENT_SCOPE)
    if call.method == "DELETE":
        services.sandbox_comment_delete(comment=comment)
        return {"success": True}
    if call.method == "POST":
        hide = str(call.params.get("hide", "")).lower()
        if hide not in {"true", "false"}:
            raise GraphError.missing_parameter("hide")
        services.sandbox_comment_hide(comment=comment, hide=hide == "true")
        return {"success": True}
    return _all_comment_fields(comment, call.fields(default="id,text,timestamp"))


def _container_node(call: ApiCall, container: SandboxContainer) -> dict[str, Any]:
    names = call.fields(default="id")
    _check_fields(names, known=frozenset({"id", "status_code", "status"}), node_type="ShadowIGMediaBuilder")
    status_code = services.container_status_code(container)
    # "status": for ERROR, the docs say the value is the error subcode.
    status = {"ERROR": "2207001", "EXPIRED": "2207020"}.get(status_code, status_code.title().replace("_", " "))
    values = {"id": container.container_id, "status_code": status_code, "status": status}
    return _with_id(values, names)


def _conversation_node(call: ApiCall, conversation: Any) -> dict[str, Any]:
    names = call.fields(default="id")
    _check_fields(names, known=frozenset({"id", "messages", "participants", "updated_time"}), node_type="Conversation")
    account = conversation.account
    values: dict[str, Any] = {
        "messages": {
            "data": [
                {"id": message.mid, "created_time": _graph_time(message.created_at)}
                for message in selectors.messages_recent(conversation=conversation)
            ]
        },
        "participants": {
            "data": [
                {"username": conversation.follower_username, "id": conversation.follower_id},
                {"username": account.username, "id": account.user_id},
            ]
        },
        "updated_time": _graph_time(conversation.updated_at),
    }
    body = {name: values[name] for name in names if name != "id"}
    body["id"] = conversation.conversation_id
    return body


def _message_node(call: ApiCall, account: SandboxAccount, message: Any) -> dict[str, Any]:
    names = call.fields(default="id,created_time")
    _check_fields(names, known=frozenset({"id", "created_time", "from", "to", "message"}), node_type="Message")
    conversation = message.conversation
    follower = {"username": conversation.follower_username, "id": conversation.follower_id}
    business = {"username": account.username, "id": account.user_id}
    sender, receiver = (follower, business) if message.from_follower else (business, follower)
    values = {
        "id": message.mid,
        "created_time": _graph_time(message.created_at),
        "from": sender,
        "to": {"data": [receiver]},
        "message": message.text,
    }
    return _with_id(values, names)


def _profile_node(call: ApiCall, conversation: Any) -> dict[str, Any]:
    if conversation.last_follower_message_at is None:
        # Consent comes from the person's own message; a commenter who never wrote gets this refusal.
        raise GraphError("(#230) User consent is required to access user profile", code=230)
    names = call.fields(default="name,username,profile_pic")
    _check_fields(names, known=PROFILE_FIELDS, node_type="User")
    seed = conversation.follower_id
    values = {
        "name": conversation.follower_username.replace(".", " ").replace("_", " ").title(),
        "username": conversation.follower_username,
        "profile_pic": f"{settings.SANDBOX_URL}/profile/{seed}.jpg",
        "follower_count": _stable_number(seed, low=0, high=5000),
        "is_user_follow_business": _stable_number(seed, low=0, high=1) == 1,
        "is_business_follow_user": False,
        "is_verified_user": False,
    }
    return {name: values[name] for name in names}
