"""Checks of a post against Meta's documented limits (``publishing.limits``), before anything is sent.

Each check returns plain messages naming the limit, so the composer, the CSV
import and the publishing step all refuse in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from publishing import limits
from publishing.mediainfo import MediaInfo

# What ScheduledPost.location_id stores (a Facebook Page id is far shorter); PostgreSQL refuses more.
LOCATION_ID_MAX_CHARS = 64
# Instagram hashtags and mentions: "#" or "@" followed by word characters (mentions also take dots).
HASHTAG = re.compile(r"(?<![\w#])#\w+", re.UNICODE)
MENTION = re.compile(r"(?<![\w@])@[\w.]+", re.UNICODE)


@dataclass(frozen=True)
class MediaFacts:
    """What the checks need to know of one file (from ``mediainfo`` and the upload)."""

    name: str
    size_bytes: int
    info: MediaInfo


def caption_errors(caption: str) -> list[str]:
    errors = []
    if len(caption) > limits.CAPTION_MAX_CHARS:
        errors.append(
            f"The caption has {len(caption)} characters; Instagram allows at most {limits.CAPTION_MAX_CHARS}."
        )
    hashtags = len(HASHTAG.findall(caption))
    if hashtags > limits.CAPTION_MAX_HASHTAGS:
        errors.append(f"The caption has {hashtags} hashtags; Instagram allows at most {limits.CAPTION_MAX_HASHTAGS}.")
    mentions = len(MENTION.findall(caption))
    if mentions > limits.CAPTION_MAX_MENTIONS:
        errors.append(f"The caption has {mentions} @ mentions; Instagram allows at most {limits.CAPTION_MAX_MENTIONS}.")
    return errors


def _ratio_text(ratio: float) -> str:
    return f"{ratio:.2f}:1"


def _image_errors(facts: MediaFacts, spec: limits.ImageSpec) -> list[str]:
    errors = []
    info = facts.info
    if info.format not in spec.formats:
        errors.append(f"{facts.name}: a {spec.label} must be a JPEG file (this one is {info.format or 'unknown'}).")
    if facts.size_bytes > spec.max_bytes:
        errors.append(
            f"{facts.name}: a {spec.label} may be at most {spec.max_bytes // limits.MB} MB "
            f"(this one is {facts.size_bytes / limits.MB:.1f} MB)."
        )
    if spec.min_ratio is not None and spec.max_ratio is not None and info.height:
        ratio = info.width / info.height
        if not spec.min_ratio - 0.005 <= ratio <= spec.max_ratio + 0.005:
            errors.append(
                f"{facts.name}: a {spec.label} needs an aspect ratio between 4:5 and 1.91:1 "
                f"(this one is {info.width}×{info.height}, {_ratio_text(ratio)})."
            )
    return errors


def _video_errors(facts: MediaFacts, spec: limits.VideoSpec) -> list[str]:
    errors = []
    info = facts.info
    if info.format not in limits.VIDEO_CONTAINERS:
        errors.append(f"{facts.name}: a {spec.label} must be an MP4 or MOV file.")
    if facts.size_bytes > spec.max_bytes:
        errors.append(
            f"{facts.name}: a {spec.label} may be at most {spec.max_bytes // limits.MB} MB "
            f"(this one is {facts.size_bytes / limits.MB:.1f} MB)."
        )
    duration = info.duration_seconds or 0.0
    if not spec.min_seconds <= duration <= spec.max_seconds:
        errors.append(
            f"{facts.name}: a {spec.label} must last between {spec.min_seconds:g} s and {spec.max_seconds:g} s "
            f"(this one lasts {duration:.1f} s)."
        )
    if info.width > spec.max_width:
        errors.append(
            f"{facts.name}: a {spec.label} may be at most {spec.max_width} pixels wide (this one is {info.width})."
        )
    if info.height:
        ratio = info.width / info.height
        if not spec.min_ratio <= ratio <= spec.max_ratio:
            errors.append(
                f"{facts.name}: a {spec.label} needs an aspect ratio between {_ratio_text(spec.min_ratio)} and "
                f"{_ratio_text(spec.max_ratio)} (this one is {_ratio_text(ratio)})."
            )
    return errors


def media_errors(kind: str, files: Sequence[MediaFacts]) -> list[str]:
    """Does this set of files make a valid post of ``kind``?"""
    if kind == "carousel":
        errors = []
        if not limits.CAROUSEL_MIN_ITEMS <= len(files) <= limits.CAROUSEL_MAX_ITEMS:
            errors.append(
                f"A carousel has {limits.CAROUSEL_MIN_ITEMS} to {limits.CAROUSEL_MAX_ITEMS} images or videos "
                f"(this one has {len(files)})."
            )
        for facts in files:
            if facts.info.kind == "image":
                errors += _image_errors(facts, limits.FEED_IMAGE)
            else:
                errors += _video_errors(facts, limits.CAROUSEL_VIDEO)
        return errors
    if len(files) != 1:
        return [f"A {kind} post has exactly one file (this one has {len(files)})."]
    facts = files[0]
    if kind == "image":
        if facts.info.kind != "image":
            return [f"{facts.name}: an image post needs an image; use a reel for a video."]
        return _image_errors(facts, limits.FEED_IMAGE)
    if kind == "reel":
        if facts.info.kind != "video":
            return [f"{facts.name}: a reel needs a video file."]
        return _video_errors(facts, limits.REEL_VIDEO)
    if kind == "story":
        if facts.info.kind == "image":
            return _image_errors(facts, limits.STORY_IMAGE)
        return _video_errors(facts, limits.STORY_VIDEO)
    return [f"Unknown post kind {kind!r}."]


def options_errors(
    *, kind: str, alt_text: str, user_tags: list[dict[str, Any]], collaborators: list[str], location_id: str
) -> list[str]:
    """The optional fields, where the API takes them."""
    errors = []
    if alt_text:
        if kind not in {"image", "carousel"}:
            errors.append("Alt text is for image posts only; Instagram does not take it for reels or stories.")
        elif len(alt_text) > limits.ALT_TEXT_MAX_CHARS:
            errors.append(f"Alt text may be at most {limits.ALT_TEXT_MAX_CHARS} characters (it has {len(alt_text)}).")
    if collaborators:
        if kind == "story":
            errors.append("Stories cannot have collaborators.")
        elif len(collaborators) > limits.COLLABORATORS_MAX:
            errors.append(
                f"At most {limits.COLLABORATORS_MAX} collaborators are allowed (this post has {len(collaborators)})."
            )
    if user_tags:
        if len(user_tags) > limits.USER_TAGS_MAX:
            errors.append(f"At most {limits.USER_TAGS_MAX} people can be tagged (this post tags {len(user_tags)}).")
        for tag in user_tags:
            if not str(tag.get("username") or "").strip():
                errors.append("Each user tag needs a username.")
                break
            for axis in ("x", "y"):
                value = tag.get(axis)
                if value is None and kind == "story":
                    continue
                if not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
                    errors.append(f"User tag @{tag['username']}: {axis} must be between 0.0 and 1.0.")
    if location_id and kind == "story":
        errors.append("Stories cannot carry a location.")
    if len(location_id) > LOCATION_ID_MAX_CHARS:  # the CSV import reaches here without the composer's form
        errors.append(f"A location id has at most {LOCATION_ID_MAX_CHARS} characters (a Facebook Page id).")
    return errors
