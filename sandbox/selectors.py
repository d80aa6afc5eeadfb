"""Reads of the Instagram sandbox: token checks, objects an account may see, page data, usage figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from sandbox.errors import GraphError
from sandbox.models import (
    SandboxAccount,
    SandboxCall,
    SandboxComment,
    SandboxMedia,
    SandboxToken,
    SandboxWebhookDelivery,
)

# Platform rate limits: "Calls within one hour = 200 * Number of Users"
# (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
APP_CALLS_PER_USER_PER_HOUR = 200
# Business use case limit for Instagram: 4800 * impressions per 24 hours; the sandbox counts one impression.
BUSINESS_CALLS_PER_DAY = 4800


def token_resolve(*, access_token: str) -> SandboxToken:
    """The live token behind ``access_token``; raises ``GraphError`` (code 190) otherwise."""
    token = SandboxToken.objects.select_related("account").filter(token=access_token).first() if access_token else None
    if token is None:
        raise GraphError.token_unparseable()
    if token.revoked:
        raise GraphError.token_revoked(app_id=settings.INSTAGRAM_APP_ID)
    if token.expires_at <= timezone.now():
        raise GraphError.token_expired(expired_at=token.expires_at)
    return token


def comment_of_account(*, comment_id: str, account: SandboxAccount) -> SandboxComment | None:
    """The comment with this id on one of ``account``'s posts (others' comments are invisible to it)."""
    return (
        SandboxComment.objects.select_related("parent", "media")
        .filter(comment_id=comment_id, media__account=account)
        .first()
    )


def comment_replies(*, comment: SandboxComment) -> QuerySet[SandboxComment]:
    """Replies to a top-level comment, oldest first."""
    return comment.replies.select_related("media", "parent").order_by("timestamp", "id")


def accounts_list() -> QuerySet[SandboxAccount]:
    return SandboxAccount.objects.order_by("username")


def account_by_username(*, username: str) -> SandboxAccount | None:
    return SandboxAccount.objects.filter(username=username).first() if username else None


def accounts_overview() -> QuerySet[SandboxAccount]:
    """Every sandbox account with its posts (newest first) and per-post comment counts."""
    media = SandboxMedia.objects.annotate(comment_count=Count("comments")).order_by("-timestamp", "-id")
    return SandboxAccount.objects.prefetch_related(Prefetch("media", queryset=media)).order_by("username")


def account_feed(*, username: str) -> SandboxAccount | None:
    """The account with its posts, their top-level comments and the replies under them (four queries)."""
    replies = SandboxComment.objects.order_by("timestamp", "id")
    comments = SandboxComment.objects.filter(parent__isnull=True).prefetch_related(
        Prefetch("replies", queryset=replies)
    )
    media = SandboxMedia.objects.prefetch_related(Prefetch("comments", queryset=comments))
    return SandboxAccount.objects.prefetch_related(Prefetch("media", queryset=media)).filter(username=username).first()


def media_of_account(*, media_id: str, username: str) -> SandboxMedia | None:
    return SandboxMedia.objects.select_related("account").filter(media_id=media_id, account__username=username).first()


def calls_recent(*, limit: int = 50) -> QuerySet[SandboxCall]:
    return SandboxCall.objects.select_related("account").order_by("-at", "-id")[:limit]


def webhook_deliveries_recent(*, limit: int = 20) -> QuerySet[SandboxWebhookDelivery]:
    return SandboxWebhookDelivery.objects.order_by("-at", "-id")[:limit]


def webhook_delivery_latest() -> SandboxWebhookDelivery | None:
    return SandboxWebhookDelivery.objects.order_by("-at", "-id").first()


def _percent(used: int, allowed: int) -> int:
    # Whole percentages, rounded up: any use shows as at least 1.
    return min(100, -(-used * 100 // max(1, allowed)))


def app_usage() -> dict[str, int]:
    """The ``X-App-Usage`` figures: the app's share of its hourly call budget, in percent."""
    since = timezone.now() - timedelta(hours=1)
    users = (
        SandboxToken.objects.filter(revoked=False, expires_at__gt=timezone.now()).values("account").distinct().count()
    )
    share = _percent(SandboxCall.objects.filter(at__gte=since).count(), APP_CALLS_PER_USER_PER_HOUR * max(1, users))
    # The sandbox does not meter processing time: time shares follow the call share.
    return {"call_count": share, "total_time": share, "total_cputime": share}


def business_use_case_usage(*, account: SandboxAccount) -> dict[str, list[dict[str, Any]]]:
    """The ``X-Business-Use-Case-Usage`` figures for ``account`` (keyed by its Instagram user id)."""
    since = timezone.now() - timedelta(hours=24)
    share = _percent(SandboxCall.objects.filter(at__gte=since, account=account).count(), BUSINESS_CALLS_PER_DAY)
    usage = {
        "type": "instagram",
        "call_count": share,
        "total_cputime": share,
        "total_time": share,
        "estimated_time_to_regain_access": 0,
    }
    return {account.user_id: [usage]}
