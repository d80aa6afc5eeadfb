"""Writes of the Instagram sandbox: accounts, posts, comments, OAuth codes and tokens, the calls log.

Each function is one write with the guarantees its docstring states. The
views, the ``sandbox`` management command and the tests call these; nothing
outside ``sandbox/`` does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from sandbox.errors import GraphError, OAuthExchangeError
from sandbox.models import SandboxAccount, SandboxAuthCode, SandboxCall, SandboxComment, SandboxMedia, SandboxToken
from sandbox.webhooks import comment_webhook_payload, webhook_deliver

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
        transaction.on_commit(partial(webhook_deliver, payload=comment_webhook_payload(comment=comment)))
    return comment


def sandbox_reply_create(*, account: SandboxAccount, comment: SandboxComment, message: str) -> SandboxComment:
    """The account's public reply to ``comment``, as ``POST /{ig-comment-id}/replies`` makes it.

    "You can only reply to top-level comments; replies to a reply will be added
    to the top-level comment."
    (https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-comment/replies)
    """
    top_level = comment.parent or comment
    return SandboxComment.objects.create(
        media=top_level.media,
        parent=top_level,
        from_id=account.user_id,
        from_username=account.username,
        text=message,
        via_api=True,
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
    return SandboxToken.objects.filter(account=account, revoked=False).update(revoked=True)


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
    params: dict[str, str],
    status: int,
    response: dict[str, Any],
) -> SandboxCall:
    """One line of the received-calls log. Tokens and the app secret are stored as ``"REDACTED"``, at any depth."""
    return SandboxCall.objects.create(
        method=method, path=path, account=account, params=_redacted(params), status=status, response=_redacted(response)
    )
