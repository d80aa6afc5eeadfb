"""The follower's side of the sandbox: accounts, their posts, comments and the app's replies.

A person (or a browser test) plays the followers here: posting a comment
sends the signed ``comments`` webhook to InstaForge, and the replies the app
makes through the API show up under the comment without a reload.
These pages belong to the local emulator only: there are no logins and no
CSRF tokens, as on any local development tool.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandbox import selectors, services
from sandbox.models import SandboxAccount

COMMENTER_COOKIE = "sandbox_commenter"


def page(template: str, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """A sandbox page. Rendered without the request, so none of InstaForge's context processors take part."""
    return HttpResponse(render_to_string(template, context), status=status)


def _account_or_404(username: str) -> SandboxAccount:
    account = selectors.account_by_username(username=username)
    if account is None:
        raise Http404("No such sandbox account")
    return account


def _account_page(
    request: HttpRequest, username: str, *, errors: dict[str, str] | None = None, status: int = 200
) -> HttpResponse:
    account = selectors.account_feed(username=username)
    if account is None:
        raise Http404("No such sandbox account")
    conversations = selectors.conversations_of_account(account=account)
    context = {
        "account": account,
        "conversations": conversations,
        "commenter": request.COOKIES.get(COMMENTER_COOKIE, ""),
        "errors": errors or {},
        "last_delivery": selectors.webhook_delivery_latest(),
        "ice_breakers": services.sandbox_ice_breakers_default(account=account),
        "app_callbacks": selectors.app_callbacks_of(
            user_ids=_callback_user_ids(account=account, conversations=conversations)
        ),
    }
    return page("sandbox/account.html", context, status=status)


def _callback_user_ids(*, account: SandboxAccount, conversations: Any) -> list[str]:
    """The ids whose callbacks the account page shows: the account's, its DM correspondents' and commenters'."""
    ids = {account.user_id, account.app_scoped_id}
    ids.update(conversation.follower_id for conversation in conversations)
    ids.update(comment.from_id for media in account.media.all() for comment in media.comments.all())
    return sorted(ids)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Every sandbox account and its posts, and a form to add an account."""
    return page("sandbox/home.html", {"accounts": selectors.accounts_overview(), "error": ""})


@csrf_exempt
@require_POST
def account_create(request: HttpRequest) -> HttpResponse:
    try:
        account = services.sandbox_account_create(
            username=request.POST.get("username", ""), name=request.POST.get("name", "")
        )
    except ValidationError as error:
        return page(
            "sandbox/home.html",
            {"accounts": selectors.accounts_overview(), "error": " ".join(error.messages)},
            status=400,
        )
    return HttpResponseRedirect(reverse("sandbox-account", args=[account.username]))


@require_GET
def account(request: HttpRequest, username: str) -> HttpResponse:
    """An account's posts with their comments and replies; the page polls itself for new replies."""
    return _account_page(request, username)


@csrf_exempt
@require_POST
def media_create(request: HttpRequest, username: str) -> HttpResponse:
    media = services.sandbox_media_create(account=_account_or_404(username), caption=request.POST.get("caption", ""))
    return HttpResponseRedirect(reverse("sandbox-account", args=[username]) + f"#media-{media.media_id}")


@csrf_exempt
@require_POST
def comment_post(request: HttpRequest, username: str, media_id: str) -> HttpResponse:
    """A follower comments on a post: the comment is stored and the webhook sent, then back to the page."""
    media = selectors.media_of_account(media_id=media_id, username=username)
    if media is None:
        raise Http404("No such post")
    try:
        comment = services.sandbox_comment_post(
            media=media, from_username=request.POST.get("from_username", ""), text=request.POST.get("text", "")
        )
    except ValidationError as error:
        return _account_page(request, username, errors={media_id: " ".join(error.messages)}, status=400)
    response = HttpResponseRedirect(reverse("sandbox-account", args=[username]) + f"#media-{media_id}")
    response.set_cookie(COMMENTER_COOKIE, comment.from_username, samesite="Lax")
    return response


@csrf_exempt
@require_POST
def dm_post(request: HttpRequest, username: str) -> HttpResponse:
    """A follower writes to the account: a DM, a story mention or reply, a quick reply or a postback button tap.

    Each sends its webhook (``messages``, or ``messaging_postbacks`` for a button).
    """
    account = _account_or_404(username)
    sender = request.POST.get("from_username", "")
    text = request.POST.get("text", "")
    kind = request.POST.get("kind", "message")
    try:
        if kind == "story_mention":
            message = services.sandbox_story_mention(account=account, from_username=sender)
        elif kind == "postback":
            message = services.sandbox_follower_postback(
                account=account, from_username=sender, title=text, payload=request.POST.get("payload", "")
            )
        elif kind == "ice_breaker":
            message = services.sandbox_follower_ice_breaker(
                account=account, from_username=sender, index=int(request.POST.get("index", "0") or 0)
            )
        elif kind == "quick_reply":
            message = services.sandbox_follower_message(
                account=account,
                from_username=sender,
                text=text,
                quick_reply_payload=request.POST.get("payload", "") or None,
            )
        elif kind == "owner_reply":
            message = services.sandbox_owner_message(
                account=account, follower_id=request.POST.get("follower_id", ""), text=text
            )
            return HttpResponseRedirect(reverse("sandbox-account", args=[username]) + "#dms")
        elif kind == "story_reply":
            message = services.sandbox_story_reply(account=account, from_username=sender, text=text)
        else:
            message = services.sandbox_follower_message(account=account, from_username=sender, text=text)
    except ValidationError as error:
        return _account_page(request, username, errors={"dm": " ".join(error.messages)}, status=400)
    response = HttpResponseRedirect(reverse("sandbox-account", args=[username]) + "#dms")
    response.set_cookie(COMMENTER_COOKIE, message.conversation.follower_username, samesite="Lax")
    return response


@csrf_exempt
@require_POST
def tokens_revoke(request: HttpRequest, username: str) -> HttpResponse:
    """The person removes the app from the account: its tokens stop working (code 190)."""
    services.sandbox_tokens_revoke(account=_account_or_404(username))
    return HttpResponseRedirect(reverse("sandbox-account", args=[username]))


def _callbacks_anchor(username: str) -> str:
    """The account page's section that lists the callbacks sent and the app's answers."""
    return reverse("sandbox-account", args=[username]) + "#app-callbacks"


@csrf_exempt
@require_POST
def app_remove(request: HttpRequest, username: str) -> HttpResponse:
    """The person removes the app in Instagram's settings: tokens revoked, Meta's deauthorize callback sent."""
    back = _callbacks_anchor(username)
    services.sandbox_app_remove(account=_account_or_404(username))
    return HttpResponseRedirect(back)


@csrf_exempt
@require_POST
def data_deletion_request(request: HttpRequest, username: str) -> HttpResponse:
    """Ask the app to delete my data: as the account's owner, or as a follower (``from_username`` given).

    Sends Meta's data deletion request callback; the app's answer (its status URL and confirmation code)
    shows on the account page.
    """
    back = _callbacks_anchor(username)
    account = _account_or_404(username)
    follower = request.POST.get("from_username", "").strip()
    if not follower:
        services.sandbox_data_deletion_request(account=account)
        return HttpResponseRedirect(back)
    try:
        callback = services.sandbox_follower_data_deletion_request(username=follower)
    except ValidationError as error:
        return _account_page(request, username, errors={"privacy": " ".join(error.messages)}, status=400)
    response = HttpResponseRedirect(back)
    response.set_cookie(COMMENTER_COOKIE, callback.username, samesite="Lax")
    return response


@require_GET
def log(request: HttpRequest) -> HttpResponse:
    """What InstaForge sent to "Instagram" and which webhooks the sandbox sent back."""
    calls = [(call, _pretty(call.params), _pretty(call.response)) for call in selectors.calls_recent()]
    return page(
        "sandbox/log.html",
        {
            "calls": calls,
            "deliveries": selectors.webhook_deliveries_recent(),
            "app_callbacks": selectors.app_callbacks_recent(),
        },
    )


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
