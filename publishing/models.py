from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class PostKind(models.TextChoices):
    IMAGE = "image", "Image"
    CAROUSEL = "carousel", "Carousel"
    REEL = "reel", "Reel"
    STORY = "story", "Story"


class PostState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHING = "publishing", "Publishing"
    PUBLISHED = "published", "Published"
    FAILED = "failed", "Failed"


class MediaType(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"


class ScheduledPost(WorkspaceOwned):
    """A post to publish on an account at a time, and what became of it."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="scheduled_posts")
    kind = models.CharField(max_length=10, choices=PostKind.choices, default=PostKind.IMAGE)
    caption = models.TextField(blank=True, default="")
    first_comment = models.TextField(blank=True, default="")
    alt_text = models.CharField(max_length=1000, blank=True, default="")
    # [{"username": "...", "x": 0.5, "y": 0.5}] as the API takes them.
    user_tags = models.JSONField(default=list, blank=True)
    collaborators = models.JSONField(default=list, blank=True)
    location_id = models.CharField(max_length=64, blank=True, default="", verbose_name="location ID")
    # Aware (UTC in the database); shown in the account's time zone.
    scheduled_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=PostState.choices, default=PostState.DRAFT)
    state_reason = models.CharField(max_length=500, blank=True, default="")
    # Bumped on each (re)schedule: a step of an older schedule finds itself stale and stops.
    schedule_version = models.PositiveIntegerField(default=0)
    # Bumped on each re-preparation (new containers after expiry).
    generation = models.PositiveIntegerField(default=0)
    container_id = models.CharField(max_length=64, blank=True, default="", verbose_name="container ID")
    children_container_ids = models.JSONField(default=list, blank=True, verbose_name="carousel container IDs")
    container_created_at = models.DateTimeField(null=True, blank=True)
    # Intent of the media_publish call, recorded before it; with media_id empty it is a publish in flight.
    publish_intent_at = models.DateTimeField(null=True, blank=True)
    media_id = models.CharField(max_length=64, blank=True, default="", verbose_name="media ID")
    permalink = models.URLField(max_length=500, blank=True, default="")
    published_at = models.DateTimeField(null=True, blank=True)
    first_comment_id = models.CharField(max_length=64, blank=True, default="", verbose_name="first comment ID")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.CheckConstraint(condition=Q(state__in=PostState.values), name="post_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=PostKind.values), name="post_kind_valid"),
            models.CheckConstraint(
                condition=Q(state="draft") | Q(scheduled_at__isnull=False), name="post_scheduled_has_time"
            ),
            models.CheckConstraint(condition=~Q(state="published") | ~Q(media_id=""), name="post_published_has_media"),
        ]
        indexes = [
            models.Index(fields=["account", "state"], name="post_account_state_idx"),
            models.Index(fields=["workspace", "scheduled_at"], name="post_workspace_time_idx"),
        ]
        ordering = ["scheduled_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} post #{self.pk} ({self.state})"


# The stored file's extension for each format the media checks read (Pillow's or ``mediainfo``'s name).
FORMAT_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "mp4": ".mp4", "mov": ".mov"}
STORED_EXTENSIONS = frozenset(FORMAT_EXTENSIONS.values())


def media_upload_to(instance: PostMedia, filename: str) -> str:
    """A random, unguessable storage name: ``publishing/<workspace id>/<32 random characters><extension>``.

    Nothing of the uploader's file name is kept (it stays in ``original_name``
    for the pages): only an extension from ``STORED_EXTENSIONS``, which the
    service derives from the format the checks read, else ``.bin``. 192 random
    bits make the name impossible to guess; the file is still only served to
    members of its workspace and to Meta through a signed URL
    (``publishing.services.media_url_sign``), never at a public path.
    """
    extension = os.path.splitext(filename)[1].lower()
    if extension not in STORED_EXTENSIONS:
        extension = ".bin"
    return f"publishing/{instance.workspace_id}/{secrets.token_urlsafe(24)}{extension}"


class PostMedia(WorkspaceOwned):
    """One file of a post (a carousel has 2–10), kept with Django's storage API."""

    post = models.ForeignKey(ScheduledPost, on_delete=models.CASCADE, related_name="media")
    # Files stored before random names ("publishing/%Y/%m/<uploader's name>") keep their names, and are
    # served the same way: to members through ``media_file`` and to Meta through a signed URL.
    file = models.FileField(upload_to=media_upload_to, max_length=300)
    media_type = models.CharField(max_length=6, choices=MediaType.choices)
    original_name = models.CharField(max_length=255, blank=True, default="")
    size_bytes = models.PositiveBigIntegerField(default=0)
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    duration_seconds = models.FloatField(null=True, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "post media"
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["post", "order"], name="post_media_unique_order")]

    def __str__(self) -> str:
        return f"{self.media_type} {self.order + 1} of post #{self.post_id}"


class PostEvent(WorkspaceOwned):
    """The post's history: every attempt, deferral, container status and outcome, with its reason."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        DEFERRED = "deferred", "Deferred"
        CONTAINER = "container", "Container"
        STATUS = "status", "Container status"
        PUBLISH = "publish", "Publish attempt"
        PUBLISHED = "published", "Published"
        RECONCILED = "reconciled", "Reconciled"
        COMMENT = "comment", "First comment"
        FAILED = "failed", "Failed"
        EDITED = "edited", "Edited"

    post = models.ForeignKey(ScheduledPost, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    message = models.CharField(max_length=500)
    action = models.ForeignKey("actions.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(WorkspaceOwned.Meta):
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"
