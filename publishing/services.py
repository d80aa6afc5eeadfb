"""Writes of scheduled publishing: compose, validate, edit, schedule, reschedule, and the post's history.

The publishing itself runs as steps on the action ledger (``publishing.pipeline``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, TypedDict

from django.conf import settings
from django.core import signing
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import InstagramAccount, User
from actions.models import Action, ActionState, ActionType
from actions.services import action_plan
from instaforge.redaction import secrets_redact
from publishing import validation
from publishing.mediainfo import MediaInfo, MediaUnreadable, image_info, video_info
from publishing.models import FORMAT_EXTENSIONS, MediaType, PostEvent, PostKind, PostMedia, PostState, ScheduledPost
from publishing.storage import storage_presigned_url

VIDEO_EXTENSIONS = {".mp4", ".mov"}


class PostInvalid(Exception):
    """The post breaks one or more of Meta's documented limits; nothing was saved or sent."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


class PostNotEditable(Exception):
    """The post is publishing or published: its time and content can no longer change."""


class PostContent(TypedDict):
    """What a post says besides its files: checked by ``post_errors``, stored on the ``ScheduledPost``."""

    kind: str
    caption: str
    first_comment: str
    alt_text: str
    user_tags: list[dict[str, Any]]
    collaborators: list[str]
    location_id: str


@dataclass
class Upload:
    """A file to attach: a name and a readable binary stream (an uploaded file, an opened path)."""

    name: str
    stream: IO[bytes]
    size: int
    info: MediaInfo | None = field(default=None)


def upload_inspect(upload: Upload) -> list[str]:
    """Read the file's format, size and duration into ``upload.info``; errors if it cannot be read."""
    extension = os.path.splitext(upload.name)[1].lower()
    upload.stream.seek(0)
    try:
        upload.info = video_info(upload.stream) if extension in VIDEO_EXTENSIONS else image_info(upload.stream)
    except MediaUnreadable as exc:
        return [f"{upload.name}: {exc}."]
    finally:
        upload.stream.seek(0)
    return []


def _facts(uploads: Sequence[Upload]) -> list[validation.MediaFacts]:
    return [validation.MediaFacts(u.name, u.size, u.info) for u in uploads if u.info is not None]


def _kind_errors(kind: str) -> list[str]:
    """Empty for a known post kind, else the message naming the kinds there are."""
    if kind in PostKind.values:
        return []
    return [f"Unknown post kind {kind!r}; use one of {', '.join(PostKind.values)}."]


def post_errors(
    *,
    kind: str,
    caption: str,
    first_comment: str = "",
    alt_text: str = "",
    user_tags: list[dict[str, Any]] | None = None,
    collaborators: list[str] | None = None,
    location_id: str = "",
    uploads: Sequence[Upload] = (),
) -> list[str]:
    """Every way the post breaks Meta's limits (empty: valid). Reads the files."""
    if unknown := _kind_errors(kind):
        return unknown
    errors = _text_errors(
        kind=kind,
        caption=caption,
        first_comment=first_comment,
        alt_text=alt_text,
        user_tags=user_tags or [],
        collaborators=collaborators or [],
        location_id=location_id,
    )
    if not uploads:
        errors.append("Add the photo or video to publish.")
        return errors
    for upload in uploads:
        errors += upload_inspect(upload)
    if len(_facts(uploads)) == len(uploads):
        errors += validation.media_errors(kind, _facts(uploads))
    return errors


def _text_errors(
    *,
    kind: str,
    caption: str,
    first_comment: str,
    alt_text: str,
    user_tags: list[dict[str, Any]],
    collaborators: list[str],
    location_id: str,
) -> list[str]:
    """The caption, first comment and options against Meta's limits (no files)."""
    errors: list[str] = []
    if kind == PostKind.STORY and caption:
        errors.append("Stories do not take a caption.")
    errors += validation.caption_errors(caption)
    if first_comment:
        errors += [message.replace("caption", "first comment") for message in validation.caption_errors(first_comment)]
    errors += validation.options_errors(
        kind=kind, alt_text=alt_text, user_tags=user_tags, collaborators=collaborators, location_id=location_id
    )
    return errors


def post_event_record(*, post: ScheduledPost, kind: str, message: str, action: Action | None = None) -> PostEvent:
    """Record a step of a post's life; the message (often an error's text) is stored redacted."""
    return PostEvent.all_workspaces.create(
        workspace_id=post.workspace_id, post=post, kind=kind, message=secrets_redact(message)[:500], action=action
    )


def post_create(
    *,
    account: InstagramAccount,
    kind: str,
    caption: str = "",
    first_comment: str = "",
    alt_text: str = "",
    user_tags: list[dict[str, Any]] | None = None,
    collaborators: list[str] | None = None,
    location_id: str = "",
    uploads: Sequence[Upload],
    scheduled_at: datetime | None = None,
    created_by: User | None = None,
) -> ScheduledPost:
    """Validate against Meta's limits, store the files, and schedule when a time is given.

    Raises ``PostInvalid`` with every message when a limit is broken: then
    nothing is stored. Files go through Django's default storage.
    """
    content = PostContent(
        kind=kind,
        caption=caption,
        first_comment=first_comment,
        alt_text=alt_text,
        user_tags=user_tags or [],
        collaborators=collaborators or [],
        location_id=location_id,
    )
    errors = post_errors(**content, uploads=uploads)
    if scheduled_at is not None and timezone.is_naive(scheduled_at):
        errors.append("The scheduled time needs a time zone.")
    if errors:
        raise PostInvalid(errors)
    stored: list[str] = []
    try:
        with transaction.atomic():
            post = ScheduledPost.all_workspaces.create(
                workspace_id=account.workspace_id, account=account, **content, created_by=created_by
            )
            _media_store(post, uploads, stored)
            post_event_record(post=post, kind=PostEvent.Kind.EDITED, message="Created as a draft.")
            if scheduled_at is not None:
                post = post_schedule(post=post, scheduled_at=scheduled_at)
    except Exception:
        _files_delete(stored)  # nothing half-stored
        raise
    return post


def _media_store(post: ScheduledPost, uploads: Sequence[Upload], stored: list[str]) -> None:
    """Save the (validated) files as the post's media, in order; each stored name goes on ``stored`` at once."""
    for order, upload in enumerate(uploads):
        info = upload.info
        assert info is not None
        item = PostMedia(
            workspace_id=post.workspace_id,
            post=post,
            media_type=MediaType.VIDEO if info.kind == "video" else MediaType.IMAGE,
            original_name=upload.name[:255],
            size_bytes=upload.size,
            width=info.width,
            height=info.height,
            duration_seconds=info.duration_seconds,
            order=order,
        )
        upload.stream.seek(0)
        # The storage name is random (``media_upload_to``); its extension comes from the format read, never
        # from the uploader's file name.
        item.file.save(f"media{FORMAT_EXTENSIONS.get(info.format, '.bin')}", File(upload.stream), save=False)
        stored.append(item.file.name)
        item.save()


def _files_delete(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


EDITABLE_STATES = frozenset({PostState.DRAFT, PostState.SCHEDULED, PostState.FAILED})


def post_edit(
    *,
    post: ScheduledPost,
    kind: str,
    caption: str = "",
    first_comment: str = "",
    alt_text: str = "",
    user_tags: list[dict[str, Any]] | None = None,
    collaborators: list[str] | None = None,
    location_id: str = "",
    uploads: Sequence[Upload] = (),
) -> ScheduledPost:
    """Change a draft, scheduled or failed post; with ``uploads`` its photos and videos are replaced.

    All or nothing: the new content is checked against Meta's limits first
    (``PostInvalid``, nothing changes), with the files kept when none are given.
    A scheduled post stays at its time; its planned steps are planned again for
    the new content, so a step that read the old content sends nothing. A failed
    post goes back to draft with fresh containers. A post already publishing or
    published cannot change (``PostNotEditable``).
    """
    if unknown := _kind_errors(kind):
        raise PostInvalid(unknown)
    content = PostContent(
        kind=kind,
        caption=caption,
        first_comment=first_comment,
        alt_text=alt_text,
        user_tags=user_tags or [],
        collaborators=collaborators or [],
        location_id=location_id,
    )
    if uploads:
        errors = post_errors(**content, uploads=uploads)
    else:
        candidate = ScheduledPost(pk=post.pk, workspace_id=post.workspace_id, account_id=post.account_id, **content)
        errors = post_stored_errors(post=candidate)
    if errors:
        raise PostInvalid(errors)
    stored: list[str] = []
    try:
        with transaction.atomic():
            locked = ScheduledPost.all_workspaces.select_for_update().select_related("account").get(pk=post.pk)
            if locked.state not in EDITABLE_STATES:
                raise PostNotEditable(f"The post is {locked.get_state_display().lower()}; it can no longer change.")
            changed = [name for name, value in content.items() if getattr(locked, name) != value]
            for name, value in content.items():
                setattr(locked, name, value)
            replaced: list[str] = []
            if uploads:
                replaced = list(locked.media.values_list("file", flat=True))
                locked.media.all().delete()
                _media_store(locked, uploads, stored)
                changed.append(f"media ({len(uploads)} file{'s' if len(uploads) != 1 else ''})")
            if locked.state == PostState.FAILED:  # a fresh start: new containers, back to draft
                locked.generation += 1
                locked.container_id, locked.children_container_ids, locked.container_created_at = "", [], None
                locked.publish_intent_at = None
                locked.state, locked.state_reason, locked.scheduled_at = PostState.DRAFT, "", None
            if locked.state == PostState.SCHEDULED:
                _cancel_planned_steps(locked, "the post was edited")
                locked.schedule_version += 1
                assert locked.scheduled_at is not None
                step_plan(post=locked, step="prepare", due_at=max(locked.scheduled_at, timezone.now()))
            locked.updated_at = timezone.now()
            locked.save()
            what = ", ".join(name.replace("_", " ") for name in changed) or "nothing changed"
            post_event_record(post=locked, kind=PostEvent.Kind.EDITED, message=f"Edited: {what}.")
            # The replaced files go once the change is committed (a rollback keeps them).
            transaction.on_commit(lambda: _files_delete(replaced))
    except Exception:
        _files_delete(stored)  # nothing half-stored
        raise
    return locked


def post_stored_errors(*, post: ScheduledPost) -> list[str]:
    """The checks again, on what is stored (before scheduling and before the first call to Instagram)."""
    files = [
        validation.MediaFacts(
            item.original_name or item.file.name,
            item.size_bytes,
            MediaInfo(
                item.media_type,
                _stored_format(item),
                item.width,
                item.height,
                item.duration_seconds,
            ),
        )
        for item in post.media.all()
    ]
    errors = _text_errors(
        kind=post.kind,
        caption=post.caption,
        first_comment=post.first_comment,
        alt_text=post.alt_text,
        user_tags=list(post.user_tags or []),
        collaborators=list(post.collaborators or []),
        location_id=post.location_id,
    )
    if not files:
        return [*errors, "The post has no photo or video."]
    return errors + validation.media_errors(post.kind, files)


def _stored_format(item: PostMedia) -> str:
    if item.media_type == MediaType.VIDEO:
        return "mov" if item.file.name.lower().endswith(".mov") else "mp4"
    return "JPEG" if item.file.name.lower().endswith((".jpg", ".jpeg")) else "other"


def _cancel_planned_steps(post: ScheduledPost, reason: str) -> None:
    Action.all_workspaces.filter(
        account_id=post.account_id, source_kind="post", source_id=str(post.pk), state=ActionState.PLANNED
    ).update(state=ActionState.DENIED, last_reason=reason[:500], finished_at=timezone.now(), lease_until=None)


def post_containers_count(*, post: ScheduledPost) -> int:
    """The media containers preparing ``post`` creates: one per item and the parent for a carousel, else one."""
    return post.media.count() + 1 if post.kind == PostKind.CAROUSEL else 1


def step_plan(*, post: ScheduledPost, step: str, due_at: datetime, sequence: int = 0) -> Action:
    """Plan one publishing step of the post's current schedule and generation (idempotent per step).

    A prepare step carries the number of media containers it will create, for Meta's container limit.
    """
    payload: dict[str, Any] = {
        "post_id": post.pk,
        "step": step,
        "schedule_version": post.schedule_version,
        "generation": post.generation,
        "sequence": sequence,
    }
    if step == "prepare":
        payload["containers"] = post_containers_count(post=post)
    action, _ = action_plan(
        account=post.account,
        action_type=ActionType.PUBLISH,
        idempotency_key=f"post:{post.pk}:v{post.schedule_version}:g{post.generation}:{step}:{sequence}",
        payload=payload,
        due_at=due_at,
        source_kind="post",
        source_id=str(post.pk),
    )
    return action


def post_schedule(*, post: ScheduledPost, scheduled_at: datetime) -> ScheduledPost:
    """Put a draft (or a scheduled or failed post) on the calendar at ``scheduled_at``.

    Checks the stored post against Meta's limits again (``PostInvalid``).
    Bumps the schedule version, so steps planned for an earlier time stop, and
    plans the first step on the ledger, due at that time. A post already
    publishing or published cannot move (``PostNotEditable``).
    """
    if timezone.is_naive(scheduled_at):
        raise PostInvalid(["The scheduled time needs a time zone."])
    errors = post_stored_errors(post=post)
    if errors:
        raise PostInvalid(errors)
    with transaction.atomic():
        locked = ScheduledPost.all_workspaces.select_for_update().select_related("account").get(pk=post.pk)
        if locked.state in {PostState.PUBLISHING, PostState.PUBLISHED}:
            raise PostNotEditable(f"The post is {locked.get_state_display().lower()}; it can no longer be moved.")
        _cancel_planned_steps(locked, "the post was rescheduled")
        if locked.state == PostState.FAILED:  # a fresh start: new containers
            locked.generation += 1
            locked.container_id, locked.children_container_ids, locked.container_created_at = "", [], None
            locked.publish_intent_at = None
        locked.schedule_version += 1
        locked.scheduled_at = scheduled_at
        locked.state = PostState.SCHEDULED
        locked.state_reason = ""
        locked.updated_at = timezone.now()
        locked.save()
        step_plan(post=locked, step="prepare", due_at=scheduled_at)
        post_event_record(
            post=locked, kind=PostEvent.Kind.SCHEDULED, message=f"Scheduled for {scheduled_at:%Y-%m-%d %H:%M} UTC."
        )
    return locked


def post_unschedule(*, post: ScheduledPost) -> ScheduledPost:
    """Back to draft: the planned steps are cancelled."""
    with transaction.atomic():
        locked = ScheduledPost.all_workspaces.select_for_update().get(pk=post.pk)
        if locked.state in {PostState.PUBLISHING, PostState.PUBLISHED}:
            raise PostNotEditable(f"The post is {locked.get_state_display().lower()}; it can no longer be stopped.")
        _cancel_planned_steps(locked, "the post went back to draft")
        locked.schedule_version += 1
        locked.state = PostState.DRAFT
        locked.scheduled_at = None
        locked.updated_at = timezone.now()
        locked.save()
        post_event_record(post=locked, kind=PostEvent.Kind.EDITED, message="Back to draft.")
    return locked


# Signed media URLs: the salt keeps these signatures from being valid anywhere else SECRET_KEY signs.
MEDIA_URL_SALT = "publishing.media.signed-url"
# A member's browser gets a presigned storage URL (S3) this short: it only has to load the page's file.
MEMBER_URL_SECONDS = 300


def media_url_sign(*, item: PostMedia, seconds: int | None = None, now: datetime | None = None) -> str:
    """An absolute URL Meta fetches the file from (``image_url``/``video_url``), without login, until it expires.

    Valid for ``seconds`` (default ``MEDIA_SIGNED_URL_SECONDS``) from ``now``.
    With S3 it is the storage's presigned URL; on local disk it is
    ``PUBLIC_BASE_URL/media/signed/<token>/media.<ext>``, where the token signs
    (with SECRET_KEY and a salt of its own) this item's id, its storage name
    and the expiry, so it opens this one file only, and nothing once the
    item is replaced or deleted.
    """
    seconds = settings.MEDIA_SIGNED_URL_SECONDS if seconds is None else seconds
    presigned = storage_presigned_url(name=item.file.name, seconds=seconds)
    if presigned is not None:
        return presigned
    expires = int((now or timezone.now()).timestamp()) + seconds
    token = signing.Signer(salt=MEDIA_URL_SALT).sign_object([item.pk, item.file.name, expires])
    extension = os.path.splitext(item.file.name)[1].lower() or ".bin"
    path = reverse("publishing_media_signed", kwargs={"token": token, "filename": f"media{extension}"})
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{path}"


def media_token_resolve(*, token: str, now: datetime | None = None) -> PostMedia | None:
    """The item a signed URL's token names, or None when the token is tampered with, expired or its item gone.

    Cross-tenant by nature (Meta has no workspace): the signature is the authorization.
    """
    try:
        media_id, name, expires = signing.Signer(salt=MEDIA_URL_SALT).unsign_object(token)
    except (signing.BadSignature, TypeError, ValueError):
        return None
    if not isinstance(expires, int) or expires <= int((now or timezone.now()).timestamp()):
        return None
    return PostMedia.all_workspaces.filter(pk=media_id, file=name).first()


def media_member_url(*, item: PostMedia) -> str | None:
    """Where a member's browser is sent for the file: a short-lived presigned URL with S3, else None (streamed)."""
    return storage_presigned_url(name=item.file.name, seconds=MEMBER_URL_SECONDS)
