"""Reads of the Instagram sandbox: token checks, objects an account may see, page data, usage figures."""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Count, Model, Prefetch, Q, QuerySet
from django.db.models.base import ModelState
from django.utils import timezone

from sandbox.errors import GraphError
from sandbox.models import (
    SandboxAccount,
    SandboxAppCallback,
    SandboxCall,
    SandboxComment,
    SandboxContainer,
    SandboxConversation,
    SandboxFault,
    SandboxMedia,
    SandboxMessage,
    SandboxSettings,
    SandboxToken,
    SandboxWebhookDelivery,
)

M = TypeVar("M", bound=Model)

# Platform rate limits: "Calls within one hour = 200 * Number of Users"
# (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
APP_CALLS_PER_USER_PER_HOUR = 200
# Business use case limit for Instagram: 4800 * impressions per 24 hours; the sandbox counts one impression.
BUSINESS_CALLS_PER_DAY = 4800


def _unique(queryset: QuerySet[M]) -> M | None:
    """The row of a lookup by a unique key, or None: ``get()`` runs no ORDER BY, unlike ``first()``.

    Every API call makes a few of these lookups, and building the ordering cost more CPU than the query.
    """
    try:
        return queryset.get()
    except ObjectDoesNotExist:
        return None


def token_resolve(*, access_token: str) -> SandboxToken:
    """The live token behind ``access_token``; raises ``GraphError`` (code 190) otherwise.

    Kept while the knobs are (see below), for ``TOKEN_REREAD`` seconds: a
    revocation or an account change by this process applies at once, by
    another process within that time. Expiry is checked on every call.
    """
    token = _token_row(access_token) if access_token else None
    if token is None:
        raise GraphError.token_unparseable()
    if token.revoked:
        raise GraphError.token_revoked(app_id=settings.INSTAGRAM_APP_ID)
    if token.expires_at <= timezone.now():
        raise GraphError.token_expired(expired_at=token.expires_at)
    return token


def comment_of_account(*, comment_id: str, account: SandboxAccount, related: bool = True) -> SandboxComment | None:
    """The comment with this id on one of ``account``'s posts (others' comments are invisible to it).

    ``related``: with its parent and media loaded. Without, only its ids are (``id``, ``comment_id``,
    ``media_id``, ``parent_id``; the other fields are deferred, as ``only()`` leaves them): a reply is
    the hottest call the sandbox answers, and building its query through the ORM cost more CPU than
    running it, so that lookup is fixed SQL.
    """
    if related:
        comments = SandboxComment.objects.select_related("parent", "media")
        return _unique(comments.filter(comment_id=comment_id, media__account=account))
    sql, attnames = _comment_ids_query()
    database = connections[DEFAULT_DB_ALIAS]  # the thread's connection, looked up once
    with database.cursor() as cursor:
        cursor.execute(sql, [comment_id, account.pk])
        row = cursor.fetchone()
    return None if row is None else SandboxComment.from_db(database.alias, attnames, row)


# The comment fields ``comment_of_account(related=False)`` loads.
COMMENT_ID_FIELDS = frozenset({"id", "comment_id", "media", "parent"})


@functools.cache
def _comment_ids_query() -> tuple[str, list[str]]:
    """The SQL of ``comment_of_account(related=False)`` and the attribute names of its columns, in model order.

    Built once, from the models' own table and column names (a renamed one cannot go unnoticed); the
    columns follow the model's field order, as ``Model.from_db`` expects them.
    """
    quote = connection.ops.quote_name
    comments, media = SandboxComment._meta, SandboxMedia._meta
    comment_table, media_table = quote(comments.db_table), quote(media.db_table)
    comment_column = {field.name: f"{comment_table}.{quote(field.column)}" for field in comments.concrete_fields}
    media_column = {field.name: f"{media_table}.{quote(field.column)}" for field in media.concrete_fields}
    fields = [field for field in comments.concrete_fields if field.name in COMMENT_ID_FIELDS]
    columns = ", ".join(comment_column[field.name] for field in fields)
    join = f"{media_column[media.pk.name]} = {comment_column['media']}"
    sql = (
        f"SELECT {columns} FROM {comment_table} INNER JOIN {media_table} ON {join}"  # noqa: S608 (names from _meta)
        f" WHERE {comment_column['comment_id']} = %s AND {media_column['account']} = %s"
    )
    return sql, [field.attname for field in fields]


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


def app_callbacks_recent(*, limit: int = 20) -> QuerySet[SandboxAppCallback]:
    """The deauthorize and data deletion callbacks sent to the app, newest first."""
    return SandboxAppCallback.objects.order_by("-at", "-id")[:limit]


def app_callbacks_of(*, user_ids: Iterable[str], limit: int = 5) -> list[SandboxAppCallback]:
    """The latest callbacks sent for these users (an account and its followers), newest first."""
    return list(SandboxAppCallback.objects.filter(user_id__in=list(user_ids)).order_by("-at", "-id")[:limit])


def _percent(used: int, allowed: int) -> int:
    # Whole percentages, rounded up: any use shows as at least 1.
    return min(100, -(-used * 100 // max(1, allowed)))


# The app's figures count every call of the last hour, over all accounts: worked out at most every
# SANDBOX_USAGE_CACHE_SECONDS (1 s by default) per process, not on every call. They are a share of an
# hourly budget, so a second's lag changes nothing a client could act on.
_app_usage_cached: tuple[float, dict[str, int]] | None = None


def app_usage(*, knobs: SandboxSettings | None = None) -> dict[str, int]:
    """The ``X-App-Usage`` figures: the app's share of its hourly call budget, in percent."""
    global _app_usage_cached
    ttl = float(getattr(settings, "SANDBOX_USAGE_CACHE_SECONDS", 0))
    cached = _app_usage_cached
    if ttl > 0 and cached is not None and cached[0] > time.monotonic():
        return dict(cached[1])
    figures = _app_usage_read(knobs=knobs)
    if ttl > 0:
        _app_usage_cached = (time.monotonic() + ttl, figures)
    return dict(figures)


def _app_usage_read(*, knobs: SandboxSettings | None) -> dict[str, int]:
    since = timezone.now() - timedelta(hours=1)
    users = (
        SandboxToken.objects.filter(revoked=False, expires_at__gt=timezone.now()).values("account").distinct().count()
    )
    per_user = (knobs or sandbox_settings()).app_calls_per_user_per_hour or APP_CALLS_PER_USER_PER_HOUR
    share = _percent(SandboxCall.objects.filter(at__gte=since).count(), per_user * max(1, users))
    # The sandbox does not meter processing time: time shares follow the call share.
    return {"call_count": share, "total_time": share, "total_cputime": share}


def business_use_case_usage(
    *,
    account: SandboxAccount,
    regain_minutes: int = 0,
    knobs: SandboxSettings | None = None,
    calls_last_day: int | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The ``X-Business-Use-Case-Usage`` figures for ``account`` (keyed by its Instagram user id).

    ``estimated_time_to_regain_access`` is in minutes, as documented. ``knobs`` and
    ``calls_last_day`` spare the queries when the caller has them already.
    """
    allowed = (knobs or sandbox_settings()).business_calls_per_day or BUSINESS_CALLS_PER_DAY
    if calls_last_day is None:
        calls_last_day = business_calls_last_day(account=account)
    share = _percent(calls_last_day, allowed)
    usage = {
        "type": "instagram",
        "call_count": 100 if regain_minutes else share,
        "total_cputime": share,
        "total_time": share,
        "estimated_time_to_regain_access": regain_minutes,
    }
    return {account.user_id: [usage]}


# --- settings, faults, the calls log -------------------------------------------------------


# Every API call reads the knobs, asks whether a fault is active and looks up its token. The sandbox's
# process keeps all three for SANDBOX_KNOBS_CACHE_SECONDS (1 s by default; tests: 0, always read;
# tokens longer, see ``_token_row``): its own writes (the control API, revoking tokens, ice breakers)
# drop them at once (``kept_answers_clear``); another process's (``manage.py sandbox_faults``) apply
# within that time. Only "no fault active" is kept: while a fault is, every call looks it up, so a
# fault that must hit exactly N calls does.
_knobs_cached: tuple[float, SandboxSettings] | None = None
_no_faults_until: dict[frozenset[str], float] = {}


def _knobs_ttl() -> float:
    return float(getattr(settings, "SANDBOX_KNOBS_CACHE_SECONDS", 0))


def kept_answers_clear() -> None:
    """Forget what this process keeps: the knobs, fault answers and tokens (after a write to any, or to an account)."""
    global _knobs_cached
    _knobs_cached = None
    _no_faults_until.clear()
    _tokens_kept.clear()


# Tokens with their accounts, by token string: (until, row), read again after TOKEN_REREAD seconds
# (when the knobs are kept at all; a token changes far less often than they do). Bounded: cleared when full.
_tokens_kept: dict[str, tuple[float, SandboxToken]] = {}
TOKENS_KEPT_MAX = 10_000
TOKEN_REREAD = 10.0


def _token_row(access_token: str) -> SandboxToken | None:
    """The token row with its account: a copy of the kept one while it is fresh, else read (and kept)."""
    ttl = _knobs_ttl()
    kept = _tokens_kept.get(access_token) if ttl > 0 else None
    if kept is not None and kept[0] > time.monotonic():
        return _token_copy(kept[1])
    row = _unique(SandboxToken.objects.select_related("account").filter(token=access_token))
    if ttl > 0 and row is not None:
        if len(_tokens_kept) >= TOKENS_KEPT_MAX:
            _tokens_kept.clear()
        _tokens_kept[access_token] = (time.monotonic() + TOKEN_REREAD, _token_copy(row))
    return row


def _token_copy(token: SandboxToken) -> SandboxToken:
    """A copy of the token and of its account: each call may change its own, never the kept one."""
    copied = _row_copy(token)
    copied.account = _row_copy(token.account)
    return copied


def _row_copy(row: M) -> M:
    """What ``copy.copy`` makes of a model instance, at a seventh of its CPU (no detour through pickling).

    The same field values, and a state of its own: a related row the copy caches is not cached by the
    original. Every API call makes three of these (its token, its account and the knobs).
    """
    copied = type(row).__new__(type(row))
    copied.__dict__.update(row.__dict__)
    copied._state = ModelState()
    copied._state.__dict__.update(row._state.__dict__)
    copied._state.fields_cache = dict(row._state.fields_cache)
    return copied


def sandbox_settings() -> SandboxSettings:
    """The sandbox's knobs (the single row, created with defaults on first use); a copy the caller may change."""
    global _knobs_cached
    ttl, cached = _knobs_ttl(), _knobs_cached
    if ttl > 0 and cached is not None and cached[0] > time.monotonic():
        return _row_copy(cached[1])
    row = _unique(SandboxSettings.objects.filter(pk=1))
    if row is None:
        row, _created = SandboxSettings.objects.get_or_create(pk=1)
    if ttl > 0:
        _knobs_cached = (time.monotonic() + ttl, _row_copy(row))
    return row


def faults_any_active(*, kinds: Collection[str]) -> bool:
    """Whether a fault of one of ``kinds`` is active (a "no" is kept as the knobs are, see above)."""
    key, ttl = frozenset(kinds), _knobs_ttl()
    if ttl > 0 and _no_faults_until.get(key, 0.0) > time.monotonic():
        return False
    active = faults_active().filter(kind__in=list(kinds)).exists()
    if ttl > 0 and not active:
        _no_faults_until[key] = time.monotonic() + ttl
    return active


def faults_active() -> QuerySet[SandboxFault]:
    """Faults still in force: unlimited ones, or ones with hits left."""
    return SandboxFault.objects.filter(Q(remaining__isnull=True) | Q(remaining__gt=0)).order_by("id")


def fault_matching(*, kinds: Collection[str], method: str, path: str, username: str) -> SandboxFault | None:
    """The oldest active fault of one of ``kinds`` that targets this request (empty filters match everything)."""
    for fault in faults_active().filter(kind__in=list(kinds)):
        if fault.account_username and fault.account_username != username:
            continue
        if fault.method and fault.method.upper() != method.upper():
            continue
        if fault.path_pattern and not re.search(fault.path_pattern, path):
            continue
        return fault
    return None


def calls_count(*, method: str, path_suffix: str | None = None, account: SandboxAccount | str | None = None) -> int:
    """How many calls the sandbox received: by method, optionally by path ending and by account (or username).

    For tests and benchmarks: ``calls_count(method="POST", path_suffix="/replies", account="demo_bakery")``.
    """
    calls = SandboxCall.objects.filter(method=method.upper())
    if path_suffix:
        calls = calls.filter(path__endswith=path_suffix)
    if isinstance(account, SandboxAccount):
        calls = calls.filter(account=account)
    elif account:
        calls = calls.filter(account__username=account)
    return calls.count()


def business_calls_last_day(*, account: SandboxAccount) -> int:
    return SandboxCall.objects.filter(at__gte=timezone.now() - timedelta(hours=24), account=account).count()


# An account's calls of the last 24 hours, for its business use case limit: with caching on
# (SANDBOX_USAGE_CACHE_SECONDS > 0) the count is read at most every BUSINESS_COUNT_REREAD per account
# and this process's own calls are added as it logs them, so it stays exact for the calls it serves
# (up to the few in flight at a read); calls leaving the 24 hours, or served by another sandbox
# process, show at the next read.
BUSINESS_COUNT_REREAD = 10.0
_business_counts: dict[int, tuple[float, int]] = {}
_business_counts_lock = threading.Lock()  # the server's threads log calls of one account side by side


def business_calls_counted(*, account: SandboxAccount) -> int:
    """``business_calls_last_day``, kept per process between reads as described above."""
    if float(getattr(settings, "SANDBOX_USAGE_CACHE_SECONDS", 0)) <= 0:
        return business_calls_last_day(account=account)
    kept = _business_counts.get(account.pk)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    count = business_calls_last_day(account=account)
    with _business_counts_lock:
        _business_counts[account.pk] = (time.monotonic() + BUSINESS_COUNT_REREAD, count)
    return count


def business_call_logged(*, account: SandboxAccount) -> None:
    """One more call of ``account`` on the log: count it in the kept figure, if there is one."""
    with _business_counts_lock:
        kept = _business_counts.get(account.pk)
        if kept is not None:
            _business_counts[account.pk] = (kept[0], kept[1] + 1)


# --- objects an account may see ------------------------------------------------------------


def media_of(*, account: SandboxAccount, media_id: str) -> SandboxMedia | None:
    return SandboxMedia.objects.filter(account=account, media_id=media_id).first()


def media_page(*, account: SandboxAccount, offset: int, limit: int) -> list[SandboxMedia]:
    """``/me/media``: stories are not listed there (IG User Media reference, "Limitations")."""
    media = (
        SandboxMedia.objects.filter(account=account)
        .exclude(media_product_type="STORY")
        .annotate(comment_count=Count("comments"))
    )
    return list(media.order_by("-timestamp", "-id")[offset : offset + limit])


def stories_live(*, account: SandboxAccount) -> list[SandboxMedia]:
    """Stories of the last 24 hours ("Stories expire after 24 hours"), newest first."""
    since = timezone.now() - timedelta(hours=24)
    stories = SandboxMedia.objects.filter(account=account, media_product_type="STORY", timestamp__gte=since)
    return list(stories.annotate(comment_count=Count("comments")).order_by("-timestamp", "-id"))


def comments_page(*, media: SandboxMedia, offset: int, limit: int) -> list[SandboxComment]:
    """Top-level comments of a post, oldest first, hidden ones included (they carry ``hidden: true``)."""
    comments = SandboxComment.objects.select_related("media", "parent").filter(media=media, parent__isnull=True)
    return list(comments.order_by("timestamp", "id")[offset : offset + limit])


def container_of(*, account: SandboxAccount, container_id: str) -> SandboxContainer | None:
    return SandboxContainer.objects.filter(account=account, container_id=container_id).first()


def conversation_of(*, account: SandboxAccount, conversation_id: str) -> SandboxConversation | None:
    return SandboxConversation.objects.filter(account=account, conversation_id=conversation_id).first()


def conversation_with(*, account: SandboxAccount, follower_id: str) -> SandboxConversation | None:
    return SandboxConversation.objects.filter(account=account, follower_id=follower_id).first()


def conversations_page(
    *, account: SandboxAccount, follower_id: str | None, offset: int, limit: int
) -> list[SandboxConversation]:
    conversations = SandboxConversation.objects.filter(account=account)
    if follower_id:
        conversations = conversations.filter(follower_id=follower_id)
    return list(conversations.order_by("-updated_at", "-id")[offset : offset + limit])


def message_of(*, account: SandboxAccount, mid: str) -> SandboxMessage | None:
    return SandboxMessage.objects.select_related("conversation").filter(conversation__account=account, mid=mid).first()


def messages_recent(*, conversation: SandboxConversation, limit: int = 20) -> list[SandboxMessage]:
    """The latest messages, newest first: the Conversations API details only the 20 most recent."""
    return list(conversation.messages.order_by("-created_at", "-id")[:limit])


def published_via_api_since(*, account: SandboxAccount, since: datetime) -> int:
    return SandboxMedia.objects.filter(account=account, via_api=True, timestamp__gte=since).count()


def conversations_of_account(*, account: SandboxAccount) -> QuerySet[SandboxConversation]:
    """The account's DM threads with their messages, oldest message first (for the follower page)."""
    messages = SandboxMessage.objects.order_by("created_at", "id")
    return account.conversations.prefetch_related(Prefetch("messages", queryset=messages)).order_by("-updated_at")
