from __future__ import annotations

import calendar
import json
import mimetypes
import os
from datetime import date, datetime, timedelta

from django.contrib import messages
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from instaforge.lists import list_query_parse
from publishing import importing
from publishing.forms import (
    FIRST_YEAR,
    LAST_YEAR,
    ImportForm,
    PostEditForm,
    PostForm,
    TimeOutOfRange,
    local_to_aware,
    uploads_from,
)
from publishing.models import PostMedia, PostState, ScheduledPost
from publishing.selectors import calendar_days, post_flag, post_history, posts_page, posts_state_counts
from publishing.services import (
    EDITABLE_STATES,
    PostInvalid,
    PostNotEditable,
    media_member_url,
    media_token_resolve,
    post_create,
    post_edit,
    post_schedule,
    post_unschedule,
)
from publishing.windows import local_time, publishing_blocked_reason


def _media_response(item: PostMedia, *, filename: str, cache_control: str) -> FileResponse:
    """The file itself, inline, with the content type its name says and nothing a browser could sniff into HTML."""
    content_type = mimetypes.guess_type(item.file.name)[0] or "application/octet-stream"
    try:
        stream = default_storage.open(item.file.name, "rb")
    except FileNotFoundError:
        raise Http404("No such file.") from None
    response = FileResponse(
        stream,
        content_type=content_type,
        as_attachment=False,
        filename=filename,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = cache_control
    return response


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; a FileResponse streams
def media_file(request: WorkspaceRequest, media_id: int) -> HttpResponseBase:
    """A post's file for a member of its workspace; someone else's (or no such file) is a 404, as with posts."""
    item = get_object_or_404(PostMedia.objects, pk=media_id)
    presigned = media_member_url(item=item)
    if presigned is not None:
        return redirect(presigned)
    filename = item.original_name or os.path.basename(item.file.name)
    return _media_response(item, filename=filename, cache_control="private, max-age=300")


@require_safe
def media_signed(request: HttpRequest, token: str, filename: str) -> HttpResponseBase:
    """The file for Meta's fetch (``image_url``/``video_url``): no login, the signed token is the authorization.

    A token that is expired, tampered with, or names a file since replaced is
    a 404 that says nothing more. ``filename`` (``media.<ext>``) only gives the URL an extension; the
    uploader's file name is not given to Meta.
    """
    item = media_token_resolve(token=token)
    if item is None:
        raise Http404("No such file.")
    # no-store: the URL is a bearer credential, no cache in between keeps the file under it.
    return _media_response(item, filename=filename, cache_control="private, no-store")


@workspace_required
def post_list(request: WorkspaceRequest) -> HttpResponse:
    """The publishing queue by state, caption search and scheduled date, a page at a time."""
    state = request.GET.get("state") or ""
    if state not in PostState.values:
        state = ""
    query = list_query_parse(request.GET, extra_keys=("state",) if state else ())
    page = posts_page(query=query, state=state)
    posts = list(page.object_list)
    counts = posts_state_counts()
    rows = [
        {
            "post": post,
            "flag": post_flag(post),
            "local": local_time(post.account, post.scheduled_at) if post.scheduled_at else None,
        }
        for post in posts
    ]
    return render(
        request,
        "publishing/post_list.html",
        {
            "rows": rows,
            "page": page,
            "list_query": query,
            "state": state,
            "all_states_link": query.link(state=""),
            "states": [
                (value, label, counts.get(value, 0), query.link(state=value)) for value, label in PostState.choices
            ],
        },
        status=400 if query.errors else 200,
    )


@workspace_required
def post_compose(request: WorkspaceRequest) -> HttpResponse:
    accounts = InstagramAccount.objects.order_by("username")
    form = PostForm(request.POST or None, request.FILES or None, accounts=accounts)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        account = data["account"]
        when = local_to_aware(data["scheduled_at"], account) if data["scheduled_at"] else None
        try:
            post = post_create(
                account=account,
                **form.content(),
                uploads=uploads_from(request.FILES.getlist("media_files")),
                scheduled_at=when,
                created_by=request.user,
            )
        except PostInvalid as exc:
            errors = exc.errors
        else:
            messages.success(request, "Post scheduled." if when else "Draft saved.")
            return redirect("post_detail", post_id=post.pk)
    return render(
        request, "publishing/post_compose.html", {"form": form, "errors": errors, "has_accounts": accounts.exists()}
    )


@workspace_required
def post_detail(request: WorkspaceRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(ScheduledPost.objects.select_related("account"), pk=post_id)
    return render(
        request,
        "publishing/post_detail.html",
        {
            "post": post,
            "media": list(post.media.all()),
            "history": post_history(post=post),
            "flag": post_flag(post),
            "blocked": publishing_blocked_reason(post.account),
            "local": local_time(post.account, post.scheduled_at) if post.scheduled_at else None,
        },
    )


@workspace_required
def post_edit_view(request: WorkspaceRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(ScheduledPost.objects.select_related("account"), pk=post_id)
    if post.state not in EDITABLE_STATES:
        messages.error(request, f"The post is {post.get_state_display().lower()}; it can no longer change.")
        return redirect("post_detail", post_id=post.pk)
    form = PostEditForm(request.POST or None, request.FILES or None, post=post)
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        try:
            edited = post_edit(post=post, **form.content(), uploads=uploads_from(request.FILES.getlist("media_files")))
        except PostInvalid as exc:
            errors = exc.errors
        except PostNotEditable as exc:
            messages.error(request, str(exc))
            return redirect("post_detail", post_id=post.pk)
        else:
            kept = " It keeps its time." if edited.state == PostState.SCHEDULED else ""
            messages.success(request, f"Post saved.{kept}")
            return redirect("post_detail", post_id=post.pk)
    return render(
        request,
        "publishing/post_edit.html",
        {"form": form, "errors": errors, "post": post, "media": list(post.media.all())},
    )


@workspace_required
@require_POST
def post_schedule_view(request: WorkspaceRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(ScheduledPost.objects.select_related("account"), pk=post_id)
    raw = request.POST.get("scheduled_at", "")
    try:
        when = local_to_aware(datetime.fromisoformat(raw), post.account) if raw else None
    except TimeOutOfRange as exc:
        messages.error(request, str(exc))
        return redirect("post_detail", post_id=post.pk)
    except ValueError:
        when = None
    if when is None:
        messages.error(request, "Pick a date and time.")
        return redirect("post_detail", post_id=post.pk)
    try:
        post_schedule(post=post, scheduled_at=when)
        messages.success(request, "Scheduled.")
    except (PostInvalid, PostNotEditable) as exc:
        messages.error(request, str(exc))
    return redirect("post_detail", post_id=post.pk)


@workspace_required
@require_POST
def post_unschedule_view(request: WorkspaceRequest, post_id: int) -> HttpResponse:
    post = get_object_or_404(ScheduledPost.objects, pk=post_id)
    try:
        post_unschedule(post=post)
        messages.success(request, "Back to draft; nothing will be published.")
    except PostNotEditable as exc:
        messages.error(request, str(exc))
    return redirect("post_detail", post_id=post.pk)


@workspace_required
@require_POST
def post_move(request: WorkspaceRequest, post_id: int) -> JsonResponse:
    """The calendar's drag and drop: a new day (``date``, YYYY-MM-DD) keeping the local time, or a ``time`` too."""
    post = get_object_or_404(ScheduledPost.objects.select_related("account"), pk=post_id)
    try:
        body = json.loads(request.body or b"{}") if request.content_type == "application/json" else request.POST
        day = date.fromisoformat(str(body["date"]))
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested thousands deep
        return JsonResponse({"ok": False, "error": "Send a date as YYYY-MM-DD."}, status=400)
    current = local_time(post.account, post.scheduled_at) if post.scheduled_at else None
    hour_minute = str(body.get("time") or (current.strftime("%H:%M") if current else "12:00"))
    try:
        when = local_to_aware(datetime.fromisoformat(f"{day.isoformat()}T{hour_minute}"), post.account)
    except TimeOutOfRange as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=400)
    except ValueError:
        return JsonResponse({"ok": False, "error": "Send the time as HH:MM."}, status=400)
    try:
        moved = post_schedule(post=post, scheduled_at=when)
    except (PostInvalid, PostNotEditable) as exc:
        return JsonResponse({"ok": False, "error": str(exc)}, status=409)
    return JsonResponse(
        {
            "ok": True,
            "scheduled_at": moved.scheduled_at.isoformat() if moved.scheduled_at else None,
            "flag": post_flag(moved),
        }
    )


@workspace_required
def post_calendar(request: WorkspaceRequest) -> HttpResponse:
    view = "week" if request.GET.get("view") == "week" else "month"
    try:
        anchor = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        anchor = date.today()
    if not FIRST_YEAR <= anchor.year <= LAST_YEAR:  # the grid and its links would run off datetime's range
        anchor = date.today()
    if view == "week":
        start = anchor - timedelta(days=anchor.weekday())
        days = calendar_days(start=start, days=7)
        previous, following = start - timedelta(days=7), start + timedelta(days=7)
        title = f"Week of {start:%d %b %Y}"
    else:
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        span = (last - start).days + 1
        days = calendar_days(start=start, days=span + (-span % 7), month=first.month)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = last + timedelta(days=1)
        title = f"{first:%B %Y}"
    return render(
        request,
        "publishing/calendar.html",
        {
            "view": view,
            "days": days,
            "title": title,
            "previous": previous,
            "following": following,
            "anchor": anchor,
            "move_url": reverse("post_move", args=[0]),
            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        },
    )


# Where the import page keeps the ids of the posts it just created, for the confirmation after the redirect.
IMPORT_RESULT_KEY = "publishing_import_result"


@workspace_required
def post_import(request: WorkspaceRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        raw = form.cleaned_data["csv_file"].read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = ""
            messages.error(request, "The CSV must be UTF-8 text.")
        if text:
            report = importing.posts_import(
                accounts=list(InstagramAccount.objects.all()),
                csv_text=text,
                files=uploads_from(request.FILES.getlist("media_files")),
            )
            if not report.errors:
                # The confirmation is shown once after the redirect (a reload does not import again).
                request.session[IMPORT_RESULT_KEY] = [post.pk for post in report.created]
                return redirect("post_import")
    created_ids = request.session.pop(IMPORT_RESULT_KEY, None) if request.method == "GET" else None
    imported = (
        list(ScheduledPost.objects.filter(pk__in=created_ids).select_related("account").order_by("scheduled_at", "pk"))
        if created_ids
        else []
    )
    accounts = list(InstagramAccount.objects.order_by("username").values_list("username", flat=True)[:1])
    return render(
        request,
        "publishing/post_import.html",
        {
            "form": form,
            "report": report,
            "columns": importing.IMPORT_COLUMNS,
            "example": importing.import_example(
                username=accounts[0] if accounts else "demo_bakery", start=timezone.localtime()
            ),
            "imported": imported,
            "imported_scheduled": sum(1 for post in imported if post.scheduled_at is not None),
            "imported_drafts": sum(1 for post in imported if post.scheduled_at is None),
        },
    )
