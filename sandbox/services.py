"""Writes of the Instagram sandbox: accounts, posts, comments, OAuth codes and tokens, the calls log.

Each function is one write with the guarantees its docstring states. The
views, the ``sandbox`` management command and the tests call these; nothing
outside ``sandbox/`` does.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import random
import re
import secrets
import string
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Field, Model
from django.utils import timezone

from sandbox import selectors
from sandbox.errors import GraphError, OAuthExchangeError
from sandbox.faults import sandbox_fault_consume as sandbox_fault_consume
from sandbox.models import (
    SandboxAccount,
    SandboxAppCallback,
    SandboxAuthCode,
    SandboxCall,
    SandboxComment,
    SandboxContainer,
    SandboxConversation,
    SandboxFault,
    SandboxMedia,
    SandboxMessage,
    SandboxSettings,
    SandboxToken,
    graph_id,
)
from sandbox.webhooks import (
    app_callback_send,
    comment_webhook_payload,
    message_echo_payload,
    message_webhook_payload,
    webhook_emit,
)

# Business Login for Instagram: codes live one hour, short-lived tokens one hour, long-lived ones 60 days.
# https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/business-login
AUTH_CODE_LIFETIME = timedelta(hours=1)
TOKEN_LIFETIMES = {SandboxToken.Kind.SHORT: timedelta(hours=1), SandboxToken.Kind.LONG: timedelta(days=60)}
COMMENT_SCOPE = "instagram_business_manage_comments"

# Instagram usernames: letters, digits, periods and underscores, at most 30 characters.
_USERNAME_RE = re.compile(r"^[a-z0-9._]{1,30}$")
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_SECRET_KEYS = frozenset({"access_token", "client_secret"})


def _opaque(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(length))


def _username_clean(raw: str) -> str:
    username = raw.strip().lstrip("@").lower()
    if not _USERNAME_RE.match(username):
        raise ValidationError("A username has 1–30 letters, digits, periods or underscores.")
    return username


def _is_app_secret(client_secret: str) -> bool:
    return hmac.compare_digest(client_secret.encode(), settings.INSTAGRAM_APP_SECRET.encode())


def follower_id(username: str) -> str:
    """The Instagram-scoped id of a commenter: stable per username, 16 digits like the docs' samples."""
    digest = int.from_bytes(hashlib.sha256(username.encode()).digest()[:8], "big")
    return str(10**15 + digest % (9 * 10**15))


# --- fixed SQL for the hottest writes --------------------------------------------


def _row_insert(row: Model, *, with_pk: bool) -> None:
    """INSERT ``row`` as ``row.save()`` does, through SQL built once: for the writes of every API call.

    Each value goes through its field's ``pre_save`` and ``get_db_prep_save``, as in the ORM's own
    INSERT, so datetimes and JSON are stored as each backend stores them (jsonb on PostgreSQL, text on
    SQLite). Only compiling the statement is skipped: for a reply, that cost more CPU than running it.
    ``with_pk``: read the new id back, leaving ``row`` a saved instance (unsaved otherwise). No
    ``pre_save``/``post_save`` signals are sent: nothing listens to the sandbox's models.
    """
    model = type(row)
    sql, fields = _insert_statement(model, with_pk=with_pk)
    # The thread's connection itself: each use of the ``connection`` proxy looks it up again.
    database = connections[DEFAULT_DB_ALIAS]
    values = [field.get_db_prep_save(field.pre_save(row, True), database) for field in fields]
    # As ``save()``: a failed INSERT inside a transaction leaves it to be rolled back.
    with transaction.mark_for_rollback_on_error(), database.cursor() as cursor:
        cursor.execute(sql, values)
        if not with_pk:
            return
        if database.features.can_return_columns_from_insert:
            row.pk = database.ops.fetch_returned_insert_columns(cursor, ())[0]
        else:
            row.pk = database.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
    row._state.adding = False
    row._state.db = database.alias


@functools.cache
def _insert_statement(model: type[Model], *, with_pk: bool) -> tuple[str, list[Field[Any, Any]]]:
    """The INSERT of ``model``'s rows (the id returned, where the backend can) and its fields in column order.

    Built from the model's own table and columns, so a renamed one cannot go unnoticed; the columns are
    those ``save()`` inserts: all but the auto-incremented id and generated fields.
    """
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field and not field.generated]
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608 (names from _meta)
    if with_pk and connection.features.can_return_columns_from_insert:
        returning, _params = connection.ops.return_insert_columns([meta.pk])
        sql = f"{sql} {returning}"
    return sql, fields


# --- accounts and posts --------------------------------------------------------


def sandbox_account_create(*, username: str, name: str = "") -> SandboxAccount:
    """The sandbox account with this username, created if new, with at least one post.

    Idempotent: calling it again returns the same account and adds no post.
    Raises ``ValidationError`` for a username Instagram would not accept.
    """
    clean = _username_clean(username)
    with transaction.atomic():
        account, _created = SandboxAccount.objects.get_or_create(username=clean, defaults={"name": name})
        if not SandboxMedia.objects.filter(account=account).exists():
            SandboxMedia.objects.create(account=account, caption=f"Hello from @{clean}! Tell us what you think below.")
    return account


def sandbox_media_create(*, account: SandboxAccount, caption: str) -> SandboxMedia:
    """A new feed image post of ``account``, newest first on its page."""
    return SandboxMedia.objects.create(account=account, caption=caption.strip())


# --- comments --------------------------------------------------------------------


def sandbox_comment_post(*, media: SandboxMedia, from_username: str, text: str) -> SandboxComment:
    """A follower's top-level comment on ``media``, and the ``comments`` webhook for it.

    The commenter's id is stable per username (the account's own id when it
    comments on its own post). The signed webhook is POSTed to
    ``settings.SANDBOX_WEBHOOK_URL`` once the comment is committed, as Meta
    only notifies about comments that exist; inside a test's transaction use
    ``django_capture_on_commit_callbacks(execute=True)``. Raises
    ``ValidationError`` for an invalid username or an empty text.
    """
    username = _username_clean(from_username)
    if not text.strip():
        raise ValidationError("A comment needs some text.")
    account = media.account
    commenter_id = account.user_id if username == account.username else follower_id(username)
    with transaction.atomic():
        comment = SandboxComment.objects.create(
            media=media, from_id=commenter_id, from_username=username, text=text.strip()
        )
        transaction.on_commit(partial(webhook_emit, payload=comment_webhook_payload(comment=comment)))
    return comment


def sandbox_reply_create(*, account: SandboxAccount, comment: SandboxComment, message: str) -> SandboxComment:
    """The account's public reply to ``comment``, as ``POST /{ig-comment-id}/replies`` makes it.

    "You can only reply to top-level comments; replies to a reply will be added
    to the top-level comment."
    (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies)
    """
    # A reply is on its top-level comment's media: the ids say all, nothing more is read. The model
    # gives the reply its defaults (comment_id, timestamp, hidden); fixed SQL stores it (the hottest call).
    reply = SandboxComment(
        media_id=comment.media_id,
        parent_id=comment.parent_id or comment.pk,
        from_id=account.user_id,
        from_username=account.username,
        text=message,
        via_api=True,
    )
    _row_insert(reply, with_pk=True)
    return reply


def sandbox_owner_comment_create(*, account: SandboxAccount, media: SandboxMedia, message: str) -> SandboxComment:
    """The account's own top-level comment on its media (``POST /{ig-media-id}/comments?message=``).

    https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-media/comments
    """
    if not message.strip():
        raise GraphError.missing_parameter("message")
    return SandboxComment.objects.create(
        media=media, from_id=account.user_id, from_username=account.username, text=message, via_api=True
    )


# --- Business Login ----------------------------------------------------------------


def sandbox_authorize(*, account: SandboxAccount, redirect_uri: str, scopes: Sequence[str]) -> str:
    """What "Allow" on the consent page does: a new single-use authorization code, valid one hour."""
    auth_code = SandboxAuthCode.objects.create(
        code=_opaque("AQ", 120), account=account, redirect_uri=redirect_uri, scopes=",".join(scopes)
    )
    return auth_code.code


def _token_issue(*, account: SandboxAccount, kind: SandboxToken.Kind, scopes: str) -> SandboxToken:
    return SandboxToken.objects.create(
        token=_opaque("IGAA", 160),
        account=account,
        kind=kind,
        scopes=scopes,
        expires_at=timezone.now() + TOKEN_LIFETIMES[kind],
    )


def sandbox_code_exchange(
    *, client_id: str, client_secret: str, grant_type: str, redirect_uri: str, code: str
) -> SandboxToken:
    """An authorization code for a short-lived token, as ``POST api.instagram.com/oauth/access_token`` does.

    The code is used at most once, even under concurrent exchanges (the row is
    locked and claimed in one transaction). Raises ``OAuthExchangeError``.
    """
    if client_id != settings.INSTAGRAM_APP_ID:
        raise OAuthExchangeError(OAuthExchangeError.INVALID_CLIENT_ID)
    if not _is_app_secret(client_secret):
        raise OAuthExchangeError(OAuthExchangeError.INVALID_CLIENT_SECRET)
    if grant_type != "authorization_code":
        raise OAuthExchangeError(f"Unsupported grant_type: {grant_type}")
    with transaction.atomic():
        auth_code = (
            SandboxAuthCode.objects.select_for_update()
            .select_related("account")
            .filter(code=code, used_at__isnull=True, created_at__gt=timezone.now() - AUTH_CODE_LIFETIME)
            .first()
        )
        if auth_code is None:
            raise OAuthExchangeError(OAuthExchangeError.CODE_NOT_FOUND)
        if auth_code.redirect_uri != redirect_uri:
            raise OAuthExchangeError(OAuthExchangeError.REDIRECT_URI_MISMATCH)
        auth_code.used_at = timezone.now()
        auth_code.save(update_fields=["used_at"])
        return _token_issue(account=auth_code.account, kind=SandboxToken.Kind.SHORT, scopes=auth_code.scopes)


def sandbox_token_exchange(*, token: SandboxToken, client_secret: str) -> SandboxToken:
    """A valid token for a new long-lived one (60 days), as ``GET /access_token?grant_type=ig_exchange_token`` does.

    Raises ``GraphError``. Meta does not document its code for a wrong
    client_secret; 100 (invalid parameter) is used.
    """
    if not _is_app_secret(client_secret):
        raise GraphError("Error validating client secret.", code=100)
    return _token_issue(account=token.account, kind=SandboxToken.Kind.LONG, scopes=token.scopes)


def sandbox_token_refresh(*, token: SandboxToken) -> SandboxToken:
    """A long-lived token for a fresh one valid 60 days from now (``GET /refresh_access_token``).

    The old token stays valid until it expires. Meta also requires the token to
    be at least 24 hours old but documents no error for a younger one
    (https://developers.facebook.com/documentation/instagram-platform/reference/refresh_access_token),
    so the sandbox does not enforce that rule. Raises ``GraphError`` for a
    short-lived token.
    """
    if token.kind != SandboxToken.Kind.LONG:
        raise GraphError.invalid_parameter("Only long-lived access tokens can be refreshed")
    return _token_issue(account=token.account, kind=SandboxToken.Kind.LONG, scopes=token.scopes)


def sandbox_tokens_revoke(*, account: SandboxAccount) -> int:
    """The person removes the app: every token of ``account`` stops working. Returns how many were live."""
    revoked = SandboxToken.objects.filter(account=account, revoked=False).update(revoked=True)
    selectors.kept_answers_clear()  # the kept tokens
    return revoked


def sandbox_app_remove(*, account: SandboxAccount) -> SandboxAppCallback:
    """The person removes the app in Instagram's settings: its tokens stop working, then Meta calls the app's
    Deauthorize callback URL with "an app-scoped id" of the user (Meta's words): the sandbox sends the
    app-scoped id (/me's ``id``), not the ``user_id`` webhooks carry, so the app must know the account by both."""
    sandbox_tokens_revoke(account=account)
    return app_callback_send(
        kind=SandboxAppCallback.Kind.DEAUTHORIZE, user_id=account.app_scoped_id, username=account.username
    )


def sandbox_data_deletion_request(*, account: SandboxAccount) -> SandboxAppCallback:
    """The account's owner asks the app to delete their data: Meta's data deletion request callback, with the
    app-scoped id (as ``sandbox_app_remove``)."""
    return app_callback_send(
        kind=SandboxAppCallback.Kind.DATA_DELETION, user_id=account.app_scoped_id, username=account.username
    )


def sandbox_follower_data_deletion_request(*, username: str) -> SandboxAppCallback:
    """A follower (someone who commented or wrote) asks for their data to be deleted, with the Instagram-scoped
    id the app saw on their comments and messages (``follower_id``)."""
    clean = _username_clean(username)
    return app_callback_send(kind=SandboxAppCallback.Kind.DATA_DELETION, user_id=follower_id(clean), username=clean)


# --- the calls log -------------------------------------------------------------------


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "REDACTED" if key in _SECRET_KEYS else _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    return value


def sandbox_call_record(
    *,
    method: str,
    path: str,
    account: SandboxAccount | None,
    params: dict[str, Any],
    status: int,
    response: dict[str, Any],
) -> None:
    """One line of the received-calls log. Tokens and the app secret are stored as ``"REDACTED"``, at any depth.

    The account's kept 24-hour count (``selectors.business_calls_counted``) counts it too. Every API
    call writes one, so it is stored through fixed SQL and nothing reads the new row back.
    """
    call = SandboxCall(
        method=method, path=path, account=account, params=_redacted(params), status=status, response=_redacted(response)
    )
    _row_insert(call, with_pk=False)
    if account is not None:
        selectors.business_call_logged(account=account)


# --- moderation ------------------------------------------------------------------------


def sandbox_comment_hide(*, comment: SandboxComment, hide: bool) -> SandboxComment:
    """Hide or unhide a comment (``POST /{ig-comment-id}?hide=``). Idempotent."""
    SandboxComment.objects.filter(pk=comment.pk).update(hidden=hide)
    comment.hidden = hide
    return comment


def sandbox_comment_delete(*, comment: SandboxComment) -> None:
    """Delete a comment and, for a top-level one, its replies (``DELETE /{ig-comment-id}``)."""
    comment.delete()


# --- messaging ---------------------------------------------------------------------------

# "Private replies can be sent within 7 days of when the comment was created"
# (https://developers.facebook.com/documentation/instagram-platform/private-replies).
PRIVATE_REPLY_WINDOW = timedelta(days=7)
# Standard messaging: within 24 hours of the person's last message
# (https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api).
MESSAGING_WINDOW = timedelta(hours=24)
# The HUMAN_AGENT tag lets a person answer up to 7 days after the customer's last message.
HUMAN_AGENT_WINDOW = timedelta(days=7)
QUICK_REPLIES_MAX = 13
QUICK_REPLY_TYPES = frozenset({"text", "user_phone_number", "user_email"})
MESSAGE_SCOPE = "instagram_business_manage_messages"


def _conversation_for(*, account: SandboxAccount, follower_id: str, follower_username: str) -> SandboxConversation:
    conversation, _created = SandboxConversation.objects.get_or_create(
        account=account, follower_id=follower_id, defaults={"follower_username": follower_username}
    )
    return conversation


def sandbox_follower_message(
    *,
    account: SandboxAccount,
    from_username: str,
    text: str = "",
    attachments: list[dict[str, Any]] | None = None,
    reply_to: dict[str, Any] | None = None,
    quick_reply_payload: str | None = None,
) -> SandboxMessage:
    """A follower's DM to ``account``: stored, the 24-hour window reopened, and the ``messages`` webhook sent.

    ``attachments`` and ``reply_to`` follow the ``message`` object of the
    messaging webhook (story mentions are an attachment of type
    ``story_mention``; story replies carry ``reply_to.story``). The webhook is
    emitted once the message is committed. Raises ``ValidationError`` for an
    invalid username or an empty message.
    """
    username = _username_clean(from_username)
    if not text.strip() and not attachments:
        raise ValidationError("A message needs some text or an attachment.")
    payload: dict[str, Any] = {}
    if attachments:
        payload["attachments"] = attachments
    if reply_to:
        payload["reply_to"] = reply_to
    if quick_reply_payload:
        payload["quick_reply"] = {"payload": quick_reply_payload}
    now = timezone.now()
    with transaction.atomic():
        conversation = _conversation_for(account=account, follower_id=follower_id(username), follower_username=username)
        message = SandboxMessage.objects.create(
            conversation=conversation, from_follower=True, text=text.strip(), payload=payload, created_at=now
        )
        SandboxConversation.objects.filter(pk=conversation.pk).update(updated_at=now, last_follower_message_at=now)
        transaction.on_commit(partial(webhook_emit, payload=message_webhook_payload(message=message)))
    return message


def sandbox_follower_postback(
    *, account: SandboxAccount, from_username: str, title: str, payload: str
) -> SandboxMessage:
    """A follower taps a postback button of a template: the ``messaging_postbacks`` webhook; it reopens the window."""
    username = _username_clean(from_username)
    now = timezone.now()
    with transaction.atomic():
        conversation = _conversation_for(account=account, follower_id=follower_id(username), follower_username=username)
        message = SandboxMessage.objects.create(
            conversation=conversation,
            from_follower=True,
            text=title,
            payload={"postback": {"title": title, "payload": payload}},
            created_at=now,
        )
        SandboxConversation.objects.filter(pk=conversation.pk).update(updated_at=now, last_follower_message_at=now)
        transaction.on_commit(partial(webhook_emit, payload=message_webhook_payload(message=message)))
    return message


MAX_ICE_BREAKERS = 4  # "A maximum of 4 questions can be set via the Ice Breaker API"


def sandbox_ice_breakers_set(*, account: SandboxAccount, ice_breakers: Any) -> None:
    """Keep the account's ice breakers (the new, per-locale format); a bad shape is Graph error 100.

    The default locale is required and each locale holds 1 to 4 questions with a payload each
    (https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/
    messaging-api/ice-breakers).
    """
    if not isinstance(ice_breakers, list) or not ice_breakers:
        raise GraphError.invalid_parameter("ice_breakers must be a non-empty array")
    locales = set()
    for entry in ice_breakers:
        actions = entry.get("call_to_actions") if isinstance(entry, dict) else None
        if not isinstance(actions, list) or not actions:
            raise GraphError.invalid_parameter("Each ice breaker needs call_to_actions")
        if len(actions) > MAX_ICE_BREAKERS:
            raise GraphError.invalid_parameter(f"At most {MAX_ICE_BREAKERS} ice breaker questions can be set")
        for item in actions:
            if not isinstance(item, dict) or not item.get("question") or not item.get("payload"):
                raise GraphError.invalid_parameter("Each call to action needs a question and a payload")
        locales.add(str(entry.get("locale") or ""))
    if "default" not in locales:
        raise GraphError.invalid_parameter("The default locale is required")
    SandboxAccount.objects.filter(pk=account.pk).update(ice_breakers=ice_breakers)
    selectors.kept_answers_clear()  # the kept tokens hold the account


def sandbox_ice_breakers_clear(*, account: SandboxAccount) -> None:
    SandboxAccount.objects.filter(pk=account.pk).update(ice_breakers=[])
    selectors.kept_answers_clear()  # the kept tokens hold the account


def sandbox_ice_breakers_default(*, account: SandboxAccount) -> list[dict[str, str]]:
    """The questions a follower sees: those of the default locale."""
    for entry in account.ice_breakers or []:
        if isinstance(entry, dict) and entry.get("locale") == "default":
            return [item for item in entry.get("call_to_actions") or [] if isinstance(item, dict)]
    return []


def sandbox_follower_ice_breaker(*, account: SandboxAccount, from_username: str, index: int) -> SandboxMessage:
    """A follower taps an ice breaker: a ``messaging_postbacks`` webhook with its question and payload."""
    questions = sandbox_ice_breakers_default(account=account)
    if not 0 <= index < len(questions):
        raise ValidationError("That ice breaker is not set any more.")
    item = questions[index]
    return sandbox_follower_postback(
        account=account, from_username=from_username, title=str(item["question"]), payload=str(item["payload"])
    )


def sandbox_story_mention(*, account: SandboxAccount, from_username: str) -> SandboxMessage:
    """A follower mentions the account in their story: a ``messages`` webhook with a ``story_mention`` attachment."""
    url = f"{settings.SANDBOX_URL}/stories/{follower_id(_username_clean(from_username))}/{secrets.randbelow(10**9)}"
    return sandbox_follower_message(
        account=account, from_username=from_username, attachments=[{"type": "story_mention", "payload": {"url": url}}]
    )


def sandbox_story_reply(*, account: SandboxAccount, from_username: str, text: str) -> SandboxMessage:
    """A follower replies to the account's story: a ``messages`` webhook with ``reply_to.story``."""
    story_id = graph_id()
    story = {"story": {"url": f"{settings.SANDBOX_URL}/stories/{account.user_id}/{story_id}", "id": story_id}}
    return sandbox_follower_message(account=account, from_username=from_username, text=text, reply_to=story)


def _validate_outgoing(message: dict[str, Any]) -> str:
    """The text of an outgoing ``message`` object; raises ``GraphError`` (100) for a malformed one."""
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        raise GraphError.invalid_parameter("message must contain text or an attachment")
    quick_replies = message.get("quick_replies")
    if quick_replies is not None:
        if not isinstance(quick_replies, list) or len(quick_replies) > QUICK_REPLIES_MAX:
            raise GraphError.invalid_parameter(f"quick_replies must be a list of at most {QUICK_REPLIES_MAX}")
        for reply in quick_replies:
            if not isinstance(reply, dict) or reply.get("content_type") not in {
                "text",
                "user_phone_number",
                "user_email",
            }:
                raise GraphError.invalid_parameter("Invalid quick_replies content_type")
    attachment = message.get("attachment")
    if attachment is not None:
        kind = attachment.get("type") if isinstance(attachment, dict) else None
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if kind == "template":
            if not isinstance(payload, dict) or payload.get("template_type") not in {"generic", "button"}:
                raise GraphError.invalid_parameter("Invalid template_type")
        elif kind in {"image", "video", "audio", "file"}:
            if not isinstance(payload, dict) or not payload.get("url"):
                raise GraphError.missing_parameter("attachment.payload.url")
        else:
            raise GraphError.invalid_parameter("Invalid attachment type")
    return str(message.get("text") or "")


def sandbox_message_send(
    *, account: SandboxAccount, recipient_id: str, message: dict[str, Any], tag: str = ""
) -> SandboxMessage:
    """The account's DM to a follower (``POST /me/messages`` with ``recipient.id``).

    Allowed only within 24 hours of the follower's last message (7 days with
    ``tag=HUMAN_AGENT``); otherwise ``GraphError`` code 10 / subcode 2018278,
    Meta's documented Send API refusal. An unknown recipient is code 100.
    """
    text = _validate_outgoing(message)
    conversation = SandboxConversation.objects.filter(account=account, follower_id=recipient_id).first()
    if conversation is None:
        raise GraphError("(#100) No matching user found", code=100, subcode=2018001)
    now = timezone.now()
    last = conversation.last_follower_message_at
    window = HUMAN_AGENT_WINDOW if tag == "HUMAN_AGENT" else MESSAGING_WINDOW
    if last is None or now - last > window:
        raise GraphError.outside_window()
    with transaction.atomic():
        sent = SandboxMessage.objects.create(
            conversation=conversation, from_follower=False, text=text, payload=message, created_at=now
        )
        SandboxConversation.objects.filter(pk=conversation.pk).update(updated_at=now)
        _echo_if_configured(sent)
    return sent


def _echo_if_configured(message: SandboxMessage) -> None:
    if selectors.sandbox_settings().message_echoes:
        transaction.on_commit(partial(webhook_emit, payload=message_echo_payload(message=message)))


def sandbox_owner_message(*, account: SandboxAccount, follower_id: str, text: str) -> SandboxMessage:
    """A person answers from the Instagram app (not through the API): stored, and always echoed (``is_echo``).

    This is how a human taking over a conversation shows up for the app.
    Raises ``ValidationError`` for an empty text or an unknown conversation.
    """
    if not text.strip():
        raise ValidationError("A message needs some text.")
    conversation = SandboxConversation.objects.filter(account=account, follower_id=follower_id).first()
    if conversation is None:
        raise ValidationError("No conversation with this person.")
    now = timezone.now()
    with transaction.atomic():
        sent = SandboxMessage.objects.create(
            conversation=conversation,
            from_follower=False,
            text=text.strip(),
            payload={"from_app": True},
            created_at=now,
        )
        SandboxConversation.objects.filter(pk=conversation.pk).update(updated_at=now)
        transaction.on_commit(partial(webhook_emit, payload=message_echo_payload(message=sent)))
    return sent


def sandbox_private_reply(*, account: SandboxAccount, comment_id: str, message: dict[str, Any]) -> SandboxMessage:
    """A private reply to a commenter (``recipient: {"comment_id"}``): one per comment, within 7 days of it.

    A second reply, or one after 7 days, is refused with code 10 (subcodes
    2534025 / 2534022, as Instagram answers them in the wild; Meta documents no
    subcode for these). The reply does not open the 24-hour window: only the
    person's own message does.
    """
    text = _validate_outgoing(message)
    comment = SandboxComment.objects.filter(comment_id=comment_id, media__account=account).first()
    if comment is None:
        raise GraphError.unknown_object(object_id=comment_id, method="POST")
    now = timezone.now()
    if now - comment.timestamp > PRIVATE_REPLY_WINDOW:
        raise GraphError("(#10) This message is sent outside of allowed window.", code=10, subcode=2534022)
    with transaction.atomic():
        locked = SandboxComment.objects.select_for_update().get(pk=comment.pk)
        if SandboxMessage.objects.filter(private_reply_to=locked).exists():
            raise GraphError.private_reply_used()
        conversation = _conversation_for(
            account=account, follower_id=locked.from_id, follower_username=locked.from_username
        )
        sent = SandboxMessage.objects.create(
            conversation=conversation,
            from_follower=False,
            text=text,
            payload=message,
            created_at=now,
            private_reply_to=locked,
        )
        SandboxConversation.objects.filter(pk=conversation.pk).update(updated_at=now)
        _echo_if_configured(sent)
    return sent


def sandbox_sender_action(
    *, account: SandboxAccount, recipient_id: str, action: str, payload: dict[str, Any] | None
) -> None:
    """typing_on / typing_off / mark_seen need a conversation; react / unreact set the reaction on ``message_id``."""
    conversation = SandboxConversation.objects.filter(account=account, follower_id=recipient_id).first()
    if conversation is None:
        raise GraphError("(#100) No matching user found", code=100, subcode=2018001)
    if action in {"typing_on", "typing_off", "mark_seen"}:
        return
    if action not in {"react", "unreact"}:
        raise GraphError.invalid_parameter("sender_action must be typing_on, typing_off, mark_seen, react or unreact")
    mid = (payload or {}).get("message_id", "")
    target = SandboxMessage.objects.filter(conversation=conversation, mid=mid).first()
    if target is None:
        raise GraphError.invalid_parameter("Invalid message_id")
    reaction = str((payload or {}).get("reaction") or "love") if action == "react" else ""
    SandboxMessage.objects.filter(pk=target.pk).update(reaction=reaction)


# --- content publishing -------------------------------------------------------------------

CONTAINER_LIFETIME = timedelta(hours=24)
PUBLISHING_WINDOW = timedelta(hours=24)
MEDIA_TYPES = frozenset({"IMAGE", "VIDEO", "REELS", "STORIES", "CAROUSEL"})
# IG Media's media_type for each container type (a story keeps IMAGE or VIDEO, from its file).
PUBLISHED_MEDIA_TYPES = {"REELS": "VIDEO", "CAROUSEL": "CAROUSEL_ALBUM"}


CAROUSEL_MAX_CHILDREN = 10


def sandbox_container_create(
    *,
    account: SandboxAccount,
    media_type: str,
    media_url: str,
    caption: str,
    is_carousel_item: bool = False,
    children: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> SandboxContainer:
    """A media container; it finishes processing after ``container_delay_seconds`` (or ends in ERROR).

    A carousel (``media_type=CAROUSEL``) names its item containers in
    ``children`` (up to 10, "Carousels can have up to 10 total images, videos,
    or a mix"; at least 2 here, as a carousel of one is not a carousel); each
    must be this account's, created with ``is_carousel_item=true``.
    """
    if media_type not in MEDIA_TYPES:
        raise GraphError("Media type is not one of the expected media types.", code=100, subcode=2207023)
    if media_type != "CAROUSEL" and not media_url:
        raise GraphError.missing_parameter("image_url" if media_type == "IMAGE" else "video_url")
    if media_type == "CAROUSEL":
        if not children:
            raise GraphError.missing_parameter("children")
        if not 2 <= len(children) <= CAROUSEL_MAX_CHILDREN:
            raise GraphError.invalid_parameter("A carousel needs between 2 and 10 children")
        found = SandboxContainer.objects.filter(account=account, container_id__in=list(children), is_carousel_item=True)
        if found.count() != len(set(children)):
            raise GraphError.invalid_parameter("children must be carousel item containers of this account")
    knobs = selectors.sandbox_settings()
    now = timezone.now()
    return SandboxContainer.objects.create(
        account=account,
        media_type=media_type,
        media_url=media_url,
        caption=caption,
        created_at=now,
        ready_at=now + timedelta(seconds=knobs.container_delay_seconds),
        fails=random.random() < knobs.container_error_ratio,
        is_carousel_item=is_carousel_item,
        children=list(children),
        extra=extra or {},
    )


def container_status_code(container: SandboxContainer) -> str:
    """EXPIRED after 24 hours unpublished, else IN_PROGRESS until ready, then FINISHED or ERROR; PUBLISHED once used.

    A carousel is ready when it and all its children are; it fails when one of them does.
    """
    now = timezone.now()
    if container.published_media_id is not None:
        return SandboxContainer.Status.PUBLISHED
    if now - container.created_at > CONTAINER_LIFETIME:
        return SandboxContainer.Status.EXPIRED
    if now < container.ready_at:
        return SandboxContainer.Status.IN_PROGRESS
    if container.fails:
        return SandboxContainer.Status.ERROR
    if container.children:
        codes = {
            container_status_code(child)
            for child in SandboxContainer.objects.filter(
                account_id=container.account_id, container_id__in=container.children
            )
        }
        for code in (
            SandboxContainer.Status.ERROR,
            SandboxContainer.Status.EXPIRED,
            SandboxContainer.Status.IN_PROGRESS,
        ):
            if code in codes:
                return code
    return SandboxContainer.Status.FINISHED


def sandbox_media_publish(*, account: SandboxAccount, creation_id: str) -> SandboxMedia:
    """Publish a FINISHED container (``POST /me/media_publish``), within the 24-hour publishing limit.

    Errors follow the content publishing error table: limit reached 9/2207042,
    not ready 9007/2207027, expired -2/2207020 (generate a new container),
    failed processing -1/2207001.
    """
    with transaction.atomic():
        container = (
            SandboxContainer.objects.select_for_update().filter(account=account, container_id=creation_id).first()
        )
        if container is None:
            raise GraphError.unknown_object(object_id=creation_id, method="POST")
        status = container_status_code(container)
        if status == SandboxContainer.Status.PUBLISHED:
            raise GraphError("The media has already been published.", code=9007, subcode=2207027)
        if status == SandboxContainer.Status.EXPIRED:
            raise GraphError("The media has expired. Generate a new container.", code=-2, subcode=2207020)
        if status == SandboxContainer.Status.IN_PROGRESS:
            raise GraphError("Media ID is not available", code=9007, subcode=2207027)
        if status == SandboxContainer.Status.ERROR:
            raise GraphError("Instagram server error.", code=-1, subcode=2207001, error_type="OAuthException")
        quota = selectors.sandbox_settings().publishing_quota_total
        used = selectors.published_via_api_since(account=account, since=timezone.now() - PUBLISHING_WINDOW)
        if used >= quota:
            raise GraphError("Application request limit reached", code=9, subcode=2207042, error_type="OAuthException")
        media = SandboxMedia.objects.create(
            account=account,
            caption=container.caption,
            media_type=(
                ("VIDEO" if container.extra.get("video") else "IMAGE")
                if container.media_type == "STORIES"
                else PUBLISHED_MEDIA_TYPES.get(container.media_type, container.media_type)
            ),
            media_product_type={"REELS": "REELS", "STORIES": "STORY"}.get(container.media_type, "FEED"),
            media_url=container.media_url,
            via_api=True,
        )
        container.published_media = media
        container.save(update_fields=["published_media"])
    return media


# --- settings and faults --------------------------------------------------------------------

SETTINGS_FIELDS = frozenset(
    {
        "webhook_batch_size",
        "webhook_duplicate_ratio",
        "webhook_reorder_ratio",
        "container_delay_seconds",
        "container_error_ratio",
        "publishing_quota_total",
        "business_calls_per_day",
        "app_calls_per_user_per_hour",
        "message_echoes",
    }
)
# The message Meta sends with each code the fault API can inject.
FAULT_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    100: "(#100) Invalid parameter",
    190: "Error validating access token: The session has been invalidated because the user changed their password.",
    341: "(#341) Application limit reached",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80002: "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again.",
}


def sandbox_settings_update(**changes: Any) -> SandboxSettings:
    """Change some knobs; unknown names raise ``ValidationError``."""
    unknown = set(changes) - SETTINGS_FIELDS
    if unknown:
        raise ValidationError(f"Unknown settings: {', '.join(sorted(unknown))}")
    row = selectors.sandbox_settings()
    for name, value in changes.items():
        current = getattr(row, name)
        if isinstance(current, bool):
            setattr(row, name, str(value).strip().lower() in {"1", "1.0", "true", "yes", "on"})
        else:
            setattr(row, name, type(current)(value))
    row.full_clean()
    row.save()
    selectors.kept_answers_clear()
    return row


def sandbox_fault_add(
    *,
    kind: str,
    code: int | None = None,
    subcode: int | None = None,
    status: int | None = None,
    milliseconds: int | None = None,
    ratio: float | None = None,
    account_username: str = "",
    path_pattern: str = "",
    method: str = "",
    times: int | None = None,
) -> SandboxFault:
    """Register a fault, active until cleared or until it has hit ``times`` requests.

    Defaults per kind: ``error`` code 2, ``status`` 503, ``latency`` 500 ms,
    ``timeout`` 30 s, ``drop_webhooks`` ratio 1.0. Raises ``ValidationError``.
    """
    if kind not in SandboxFault.Kind.values:
        raise ValidationError(f"kind must be one of {', '.join(SandboxFault.Kind.values)}")
    if path_pattern:
        try:
            re.compile(path_pattern)
        except re.error as exc:
            raise ValidationError(f"path_pattern is not a regular expression: {exc}") from exc
    defaults: dict[str, dict[str, Any]] = {
        SandboxFault.Kind.ERROR: {"code": 2},
        SandboxFault.Kind.STATUS: {"status": 503},
        SandboxFault.Kind.LATENCY: {"milliseconds": 500},
        SandboxFault.Kind.TIMEOUT: {"milliseconds": 30_000},
        SandboxFault.Kind.DROP_WEBHOOKS: {"ratio": 1.0},
        SandboxFault.Kind.POLICY_BLOCK: {"code": 368},
        SandboxFault.Kind.REVOKE: {"code": 190},
    }
    values: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "status": status,
        "milliseconds": milliseconds,
        "ratio": ratio,
    }
    for name, default in defaults.get(kind, {}).items():
        if values[name] is None:
            values[name] = default
    if values["ratio"] is not None and not 0 <= values["ratio"] <= 1:
        raise ValidationError("ratio must be between 0 and 1")
    fault = SandboxFault.objects.create(
        kind=kind,
        account_username=account_username.strip().lstrip("@").lower(),
        path_pattern=path_pattern,
        method=method.upper(),
        remaining=times,
        **values,
    )
    selectors.kept_answers_clear()
    return fault


def sandbox_faults_clear(*, fault_id: int | None = None) -> int:
    """Remove one fault, or all of them. Returns how many were removed."""
    faults = SandboxFault.objects.all() if fault_id is None else SandboxFault.objects.filter(pk=fault_id)
    deleted, _ = faults.delete()
    selectors.kept_answers_clear()
    return deleted
