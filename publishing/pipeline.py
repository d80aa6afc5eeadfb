"""Publishing as steps on the action ledger: prepare → check (polled with backoff) → publish → first comment.

Each step is one ``publish`` action (the first comment a ``first_comment``
action), so every call passes the safety gate and the dispatcher's
exactly-once machinery; no step waits: a container still processing plans
the next check with a growing delay and returns.

- prepare: warm-up phase, the post's limits again, the live
  ``content_publishing_limit`` (deferred with the reason when the quota would
  be exceeded), then the containers (a carousel's items, then its parent).
- check: the container's ``status_code``: FINISHED plans the publish step,
  IN_PROGRESS the next check, ERROR fails the post, EXPIRED (or 24 hours on
  our clock) re-prepares with new containers.
- publish: under the account's row lock, the quota again (live usage plus
  this account's publishes in flight), then the intent, then ``media_publish``.
  An unknown outcome is reconciled by the container's status and the
  account's recent media before anything is sent again.

A prepare step declares in its payload how many media containers it will
create (``containers``) and reports in its result how many it did: the gate
counts them toward Meta's 400 containers a day (``publishing.executors``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import InstagramAccount
from actions.models import Action, ActionType
from actions.services import action_plan
from actions.specs import ActionPayload, Reconciliation
from instaforge.redaction import secrets_redact
from instagram.client import InstagramClient
from instagram.errors import GraphAPIError, NotSentError, OutcomeUnknownError, PublishingLimitError, TransientError
from publishing import limits
from publishing.models import MediaType, PostEvent, PostKind, PostState, ScheduledPost
from publishing.services import media_url_sign, post_event_record, post_stored_errors, step_plan
from publishing.windows import publishing_blocked_reason

logger = logging.getLogger(__name__)

# Polling a container: 2, 4, 8 … s, at most a minute apart, for at most this many checks.
CHECK_FIRST_DELAY = timedelta(seconds=2)
CHECK_MAX_DELAY = timedelta(seconds=60)
CHECK_MAX_POLLS = 60
# A container this close to its 24 hours is not published: it is prepared again.
EXPIRY_MARGIN = timedelta(minutes=10)
WARMUP_RECHECK = timedelta(hours=1)
QUOTA_RECHECK = timedelta(minutes=30)
QUOTA_PENDING_RECHECK = timedelta(seconds=15)
# A post of ours found in the account's media counts if dated after the publish began (with slack).
RECONCILE_SLACK = timedelta(minutes=5)
MEDIA_TYPE_FOR = {PostKind.REEL: "REELS", PostKind.STORY: "STORIES", PostKind.CAROUSEL: "CAROUSEL"}


@dataclass(frozen=True)
class PublishPayload(ActionPayload):
    """One step of a post's publishing (``publishing.services.step_plan``)."""

    post_id: int | None = None
    step: str | None = None  # prepare, check or publish
    schedule_version: int | None = None  # the post's, when planned: a step of an older schedule stops
    generation: int | None = None  # the post's containers' generation, likewise
    sequence: int = 0  # the how-many-th try of this step (checks, deferrals)
    containers: int = 0  # a prepare step: the media containers it will create


@dataclass(frozen=True)
class FirstCommentPayload(ActionPayload):
    media_id: str
    message: str
    post_id: int | None = None


def _post_for(action: Action) -> ScheduledPost | None:
    """The post, when this step still belongs to its current schedule and generation."""
    payload = PublishPayload.of(action)
    if payload.post_id is None:
        return None
    post = ScheduledPost.all_workspaces.select_related("account").filter(pk=payload.post_id).first()
    if post is None or post.state not in {PostState.SCHEDULED, PostState.PUBLISHING}:
        return None
    if post.schedule_version != payload.schedule_version or post.generation != payload.generation:
        return None
    return post


def _update(post: ScheduledPost, *, unchanged: bool = False, **changes: Any) -> bool:
    """Write ``changes`` to the post (and the object). ``unchanged``: only while the post is still as this
    step read it — same schedule version, generation and state; a person may have edited, moved or stopped
    it meanwhile (they bump the version). Returns whether the row was written."""
    rows = ScheduledPost.all_workspaces.filter(pk=post.pk)
    if unchanged:
        rows = rows.filter(schedule_version=post.schedule_version, generation=post.generation, state=post.state)
    changes["updated_at"] = timezone.now()
    if not rows.update(**changes):
        return False
    for name, value in changes.items():
        setattr(post, name, value)
    return True


def _fail(post: ScheduledPost, reason: str, action: Action | None = None) -> None:
    _update(post, state=PostState.FAILED, state_reason=secrets_redact(reason)[:500])
    post_event_record(post=post, kind=PostEvent.Kind.FAILED, message=reason, action=action)


def _defer(post: ScheduledPost, action: Action, *, step: str, until: datetime, reason: str) -> dict[str, Any]:
    sequence = int(PublishPayload.of(action).sequence) + 1
    step_plan(post=post, step=step, due_at=until, sequence=sequence)
    _update(post, state_reason=f"Deferred until {until:%Y-%m-%d %H:%M} UTC: {reason}"[:500])
    post_event_record(
        post=post, kind=PostEvent.Kind.DEFERRED, message=f"{reason}; next try {until:%H:%M:%S} UTC", action=action
    )
    return {"post_id": post.pk, "deferred_until": until.isoformat(), "reason": reason}


def _reprepare(post: ScheduledPost, action: Action, reason: str) -> dict[str, Any]:
    """New containers from scratch: an expired container is never published."""
    _update(
        post,
        generation=post.generation + 1,
        container_id="",
        children_container_ids=[],
        container_created_at=None,
        publish_intent_at=None,
        state=PostState.SCHEDULED,
        state_reason=reason[:500],
    )
    post_event_record(
        post=post, kind=PostEvent.Kind.STATUS, message=f"{reason}; preparing new containers", action=action
    )
    step_plan(post=post, step="prepare", due_at=timezone.now())
    return {"post_id": post.pk, "reprepared": True, "reason": reason}


def _quota(client: InstagramClient) -> tuple[int, int]:
    """(used, total) of the account's publishing quota, read live."""
    limit = client.content_publishing_limit()
    config = limit.get("config") or {}
    return int(limit.get("quota_usage") or 0), int(config.get("quota_total") or limits.PUBLISHING_QUOTA_DEFAULT)


def _ours_pending(post: ScheduledPost, *, read_at: datetime, all_prepared: bool = False) -> int:
    """Our publishes the live usage may not show yet: calls in flight (intent, no media id) — or, before
    preparing, every post already prepared — and those that finished since the usage was read.
    Counting a post twice only makes this safer."""
    others = ScheduledPost.all_workspaces.filter(account_id=post.account_id).exclude(pk=post.pk)
    publishing = others.filter(state=PostState.PUBLISHING, media_id="")
    if not all_prepared:
        publishing = publishing.filter(publish_intent_at__isnull=False)
    in_flight = publishing.count()
    return in_flight + others.filter(state=PostState.PUBLISHED, published_at__gte=read_at).count()


class PostChanged(Exception):
    """The post was edited, moved or stopped while a step ran: the step stops, sending nothing."""


def _quota_reserve(post: ScheduledPost, client: InstagramClient, *, all_prepared: bool) -> tuple[str, timedelta]:
    """Reserve one publish within the live quota, or say why not and how long to wait.

    The live usage is read first (no HTTP call inside a transaction); then, under the
    account's row lock, our own pending publishes are added and, when one more fits,
    the reservation is recorded in the same transaction: before preparing, the post
    becomes ``publishing``; before ``media_publish``, its intent is set. One decision
    at a time per account, so two dispatchers never take the same last slot.
    """
    read_at = timezone.now() - timedelta(seconds=1)
    used, total = _quota(client)
    with transaction.atomic():
        InstagramAccount.all_workspaces.select_for_update().filter(pk=post.account_id).first()
        pending = _ours_pending(post, read_at=read_at, all_prepared=all_prepared)
        if used + pending + 1 > total:
            reason = f"publishing quota: {used} of {total} posts used in the last 24 hours ({pending} more under way)"
            # Only our own posts under way fill it: they settle within seconds. Else wait for the window to move.
            return reason, (QUOTA_PENDING_RECHECK if used < total else QUOTA_RECHECK)
        if all_prepared:
            reserved = _update(
                post, unchanged=True, state=PostState.PUBLISHING, state_reason="Preparing the media containers"
            )
        else:
            reserved = _update(post, unchanged=True, publish_intent_at=timezone.now(), state_reason="Publishing")
        if not reserved:
            raise PostChanged
    return "", timedelta(0)


# --- prepare ------------------------------------------------------------------------------------


def _prepare(post: ScheduledPost, action: Action, client: InstagramClient) -> dict[str, Any]:
    now = timezone.now()
    blocked = publishing_blocked_reason(post.account)
    if blocked:
        return _defer(post, action, step="prepare", until=now + WARMUP_RECHECK, reason=blocked)
    errors = post_stored_errors(post=post)
    if errors:
        _fail(post, "Breaks Meta's limits, nothing was sent: " + " ".join(errors), action)
        return {"post_id": post.pk, "invalid": errors}
    reason, wait = _quota_reserve(post, client, all_prepared=True)
    if reason:
        return _defer(post, action, step="prepare", until=now + wait, reason=reason)
    items = list(post.media.all())
    children: list[str] = []
    if post.kind == PostKind.CAROUSEL:
        tagged = False
        for item in items:
            url = media_url_sign(item=item)
            is_video = item.media_type == MediaType.VIDEO
            children.append(
                client.media_container_create(
                    image_url=None if is_video else url,
                    video_url=url if is_video else None,
                    media_type="VIDEO" if is_video else None,
                    is_carousel_item=True,
                    alt_text=post.alt_text if not is_video else None,
                    # Tags go on a carousel's items, not its parent; videos in carousels take none.
                    user_tags=list(post.user_tags or []) if not is_video and not tagged else None,
                )
            )
            tagged = tagged or not is_video
        container_id = client.media_container_create(
            media_type="CAROUSEL",
            caption=post.caption or None,
            children=children,
            collaborators=list(post.collaborators or []),
            location_id=post.location_id or None,
        )
    else:
        item = items[0]
        url = media_url_sign(item=item)
        is_video = item.media_type == MediaType.VIDEO
        container_id = client.media_container_create(
            image_url=None if is_video else url,
            video_url=url if is_video else None,
            media_type=MEDIA_TYPE_FOR.get(PostKind(post.kind)),
            caption=post.caption or None,
            alt_text=post.alt_text if post.kind == PostKind.IMAGE else None,
            user_tags=list(post.user_tags or []),
            collaborators=list(post.collaborators or []) if post.kind != PostKind.STORY else None,
            location_id=post.location_id or None,
        )
    _update(
        post,
        state=PostState.PUBLISHING,
        state_reason="Instagram is processing the media",
        container_id=container_id,
        children_container_ids=children,
        container_created_at=now,
    )
    message = f"Container {container_id} created" + (f" with {len(children)} items" if children else "")
    post_event_record(post=post, kind=PostEvent.Kind.CONTAINER, message=message, action=action)
    has_video = any(item.media_type == MediaType.VIDEO for item in items)
    step_plan(post=post, step="check", due_at=now + (CHECK_FIRST_DELAY if has_video else timedelta(0)))
    return {"post_id": post.pk, "container_id": container_id, "children": children, "containers": len(children) + 1}


# --- check --------------------------------------------------------------------------------------


def _expired_on_our_clock(post: ScheduledPost) -> bool:
    created = post.container_created_at
    return created is None or timezone.now() >= created + limits.CONTAINER_LIFETIME - EXPIRY_MARGIN


def _check(post: ScheduledPost, action: Action, client: InstagramClient) -> dict[str, Any]:
    if _expired_on_our_clock(post):
        return _reprepare(post, action, "the container is (nearly) 24 hours old")
    status = client.media_container_status(container_id=post.container_id)
    code = str(status.get("status_code") or "")
    sequence = int(PublishPayload.of(action).sequence)
    if code == "FINISHED":
        post_event_record(
            post=post, kind=PostEvent.Kind.STATUS, message="Container FINISHED: publishing", action=action
        )
        step_plan(post=post, step="publish", due_at=timezone.now())
    elif code == "IN_PROGRESS":
        if sequence + 1 >= CHECK_MAX_POLLS:
            _fail(post, f"Instagram was still processing the media after {CHECK_MAX_POLLS} checks", action)
        else:
            delay = min(CHECK_FIRST_DELAY * (2**sequence), CHECK_MAX_DELAY)
            step_plan(post=post, step="check", due_at=timezone.now() + delay, sequence=sequence + 1)
            _update(post, state_reason=f"Instagram is processing the media (check {sequence + 1})")
    elif code == "EXPIRED":
        return _reprepare(post, action, "Instagram reports the container EXPIRED")
    elif code == "PUBLISHED":
        _published_found(post, action, client, note="the container shows PUBLISHED")
    else:
        _fail(post, f"Instagram could not process the media (status {code or '?'}: {status.get('status', '')})", action)
    return {"post_id": post.pk, "status_code": code}


# --- publish ------------------------------------------------------------------------------------


def _publish(post: ScheduledPost, action: Action, client: InstagramClient) -> dict[str, Any]:
    if _expired_on_our_clock(post):
        return _reprepare(post, action, "the container is (nearly) 24 hours old")
    reason, wait = _quota_reserve(post, client, all_prepared=False)
    if reason:
        return _defer(post, action, step="publish", until=timezone.now() + wait, reason=reason)
    post_event_record(
        post=post, kind=PostEvent.Kind.PUBLISH, message=f"media_publish of container {post.container_id}", action=action
    )
    try:
        media_id = client.media_publish(creation_id=post.container_id)
    except (OutcomeUnknownError, NotSentError, TransientError):
        raise  # the dispatcher reconciles or retries this same step
    except PublishingLimitError as exc:
        _update(post, publish_intent_at=None)
        return _defer(post, action, step="publish", until=timezone.now() + QUOTA_RECHECK, reason=exc.message)
    except GraphAPIError as exc:
        if exc.subcode == 2207020:  # "The media has expired. Generate a new container."
            return _reprepare(post, action, "Instagram says the container expired")
        _update(post, publish_intent_at=None)
        _fail(post, f"Instagram refused to publish: {exc.message}", action)
        raise
    return _published(post, action, client, media_id=media_id)


def _published(
    post: ScheduledPost, action: Action, client: InstagramClient, *, media_id: str, note: str = ""
) -> dict[str, Any]:
    permalink = ""
    try:
        permalink = str(client.media_get(media_id=media_id, fields="id,permalink,timestamp").get("permalink") or "")
    except GraphAPIError as exc:  # published all the same; the link is a nicety
        logger.warning("Could not read the permalink of media %s: %s", media_id, exc)
    _update(
        post,
        state=PostState.PUBLISHED,
        state_reason=note,
        media_id=media_id,
        permalink=permalink,
        published_at=timezone.now(),
    )
    post_event_record(
        post=post,
        kind=PostEvent.Kind.RECONCILED if note else PostEvent.Kind.PUBLISHED,
        message=f"Published as media {media_id}" + (f" ({note})" if note else ""),
        action=action,
    )
    if post.first_comment and media_id != "unknown":
        action_plan(
            account=post.account,
            action_type=ActionType.FIRST_COMMENT,
            idempotency_key=f"post:{post.pk}:first_comment",
            payload={"post_id": post.pk, "media_id": media_id, "message": post.first_comment},
            source_kind="post",
            source_id=str(post.pk),
        )
    return {"post_id": post.pk, "id": media_id, "permalink": permalink}


def _find_our_media(post: ScheduledPost, client: InstagramClient) -> str:
    """The id of our post among the account's recent media (stories: the live stories), by caption and time."""
    since = (post.publish_intent_at or post.container_created_at or timezone.now()) - RECONCILE_SLACK
    fields = "id,caption,timestamp,media_type"
    recent = (
        client.stories_list(fields=fields)
        if post.kind == PostKind.STORY
        else client.media_list(fields=fields, max_items=50)
    )
    # Media already matched to another of our posts is not this one (two posts may share a caption).
    taken = set(
        ScheduledPost.all_workspaces.filter(account_id=post.account_id)
        .exclude(pk=post.pk)
        .exclude(media_id="")
        .values_list("media_id", flat=True)
    )
    for media in recent:
        when = parse_datetime(str(media.get("timestamp") or "").replace("+0000", "+00:00"))
        same = str(media.get("caption") or "") == post.caption and str(media.get("id")) not in taken
        if same and (when is None or when >= since):
            return str(media.get("id"))
    return ""


def _published_found(post: ScheduledPost, action: Action, client: InstagramClient, *, note: str) -> bool:
    media_id = _find_our_media(post, client)
    if not media_id:
        _fail(post, f"{note}, but the post is not among the account's recent media; check it in Instagram", action)
        return False
    _published(post, action, client, media_id=media_id, note=f"reconciled: {note}")
    return True


# --- the executor and the reconciler -------------------------------------------------------------

STEPS = {"prepare": _prepare, "check": _check, "publish": _publish}


def publish_run(action: Action, client: InstagramClient) -> dict[str, Any]:
    """Run the step; a prepare step's result says how many media containers it created (0 unless it did)."""
    payload = PublishPayload.of(action)
    result = _publish_step_run(action, payload, client)
    if payload.step == "prepare":
        result.setdefault("containers", 0)
    return result


def _publish_step_run(action: Action, payload: PublishPayload, client: InstagramClient) -> dict[str, Any]:
    post = _post_for(action)
    if post is None:
        return {"skipped": "the post was rescheduled, re-prepared or finished meanwhile"}
    step = STEPS.get(str(payload.step))
    if step is None:
        return {"skipped": f"unknown step {payload.step!r}"}
    try:
        return step(post, action, client)
    except PostChanged:
        return {"skipped": "the post was edited, rescheduled or stopped while this step ran; nothing was sent"}


def publish_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Only ``media_publish`` can have happened unseen: ask the container, then the account's media.

    A prepare whose answer was lost is simply run again (an unused container
    expires on its own); a check is a read.
    """
    post = _post_for(action)
    if post is None or PublishPayload.of(action).step != "publish":
        return Reconciliation(False, {})
    try:
        code = str(client.media_container_status(container_id=post.container_id).get("status_code") or "")
    except GraphAPIError as exc:
        if isinstance(exc, TransientError):
            raise  # ask again later
        code = ""  # the container cannot be read any more: the account's media decide
    media_id = _find_our_media(post, client) if code in {"PUBLISHED", ""} else ""
    if code != "PUBLISHED" and not media_id:
        post_event_record(
            post=post,
            kind=PostEvent.Kind.RECONCILED,
            message=f"Not published (container {code or 'unreadable'}): publishing again",
            action=action,
        )
        return Reconciliation(False, {})
    result = _published(
        post, action, client, media_id=media_id or "unknown", note="reconciled after an unknown outcome"
    )
    return Reconciliation(True, {**result, "reconciled": True})


def first_comment_run(action: Action, client: InstagramClient) -> dict[str, Any]:
    payload = FirstCommentPayload.of(action)
    result = client.media_comment_create(media_id=payload.media_id, message=payload.message)
    _first_comment_done(action, str(result.get("id") or ""))
    return result


def _first_comment_done(action: Action, comment_id: str) -> None:
    post_id = FirstCommentPayload.of(action).post_id
    post = ScheduledPost.all_workspaces.filter(pk=post_id).first() if post_id is not None else None
    if post is not None:
        _update(post, first_comment_id=comment_id)
        post_event_record(
            post=post, kind=PostEvent.Kind.COMMENT, message=f"First comment {comment_id} posted", action=action
        )


def first_comment_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    payload = FirstCommentPayload.of(action)
    account_id = action.account.ig_user_id
    for comment in client.comments_list(media_id=payload.media_id, fields="id,text,from,timestamp"):
        author = str((comment.get("from") or {}).get("id", account_id))
        if comment.get("text") == payload.message and author == account_id:
            _first_comment_done(action, str(comment.get("id")))
            return Reconciliation(True, {"id": comment.get("id"), "reconciled": True})
    return Reconciliation(False, {})
