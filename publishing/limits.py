"""Meta's documented limits for content publishing, in one place.

Source: the IG User Media reference,
https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media
("Image Specifications", "Reel Specifications", "Story Image Specifications",
"Story Video Specifications", and the ``caption``, ``children``, ``collaborators``,
``alt_text`` parameters), and the Content Publishing guide,
https://developers.facebook.com/docs/instagram-platform/content-publishing/
(containers expire after 24 hours; 100 API-published posts per 24 hours,
read live from ``content_publishing_limit``).

Two figures are not on the current reference page and are marked as such:
the feed video limits used for video items of a carousel (60 s, 100 MB, from
the page's earlier "Video Specifications"), and the number of user tags
(Meta gives 20 @ tags for a caption; the same 20 is applied to ``user_tags``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

SOURCE_URL = "https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media"
GUIDE_URL = "https://developers.facebook.com/docs/instagram-platform/content-publishing/"

MB = 1024 * 1024

# caption: "Maximum 2200 characters, 30 hashtags, and 20 @ tags."
CAPTION_MAX_CHARS = 2200
CAPTION_MAX_HASHTAGS = 30
CAPTION_MAX_MENTIONS = 20
# alt_text: "Alternative text, up to 1000 character, for an image." Not for reels or stories.
ALT_TEXT_MAX_CHARS = 1000
# collaborators: "A list of up to 3 instagram usernames". Feed image, reels and carousels; not stories.
COLLABORATORS_MAX = 3
# user_tags: not counted on the page; the caption's 20 @ tags is applied (see the module docstring).
USER_TAGS_MAX = 20
# children: "Carousels can have up to 10 total images, videos, or a mix of the two."; a carousel has 2 or more.
CAROUSEL_MIN_ITEMS = 2
CAROUSEL_MAX_ITEMS = 10

# Containers expire after 24 hours (IG User Media, "General Limitations").
CONTAINER_LIFETIME = timedelta(hours=24)
# Documented default of the publishing quota (read live from content_publishing_limit before each post).
PUBLISHING_QUOTA_DEFAULT = 100


@dataclass(frozen=True)
class ImageSpec:
    formats: frozenset[str]  # Pillow format names
    max_bytes: int
    min_ratio: float | None  # width / height
    max_ratio: float | None
    label: str


@dataclass(frozen=True)
class VideoSpec:
    max_bytes: int
    min_seconds: float
    max_seconds: float
    max_width: int  # "Maximum columns (horizontal pixels)"
    min_ratio: float
    max_ratio: float
    label: str


# Image Specifications: JPEG, 8 MB, aspect ratio within 4:5 to 1.91:1.
FEED_IMAGE = ImageSpec(frozenset({"JPEG"}), 8 * MB, 4 / 5, 1.91, "feed image")
# Story Image Specifications: JPEG, 8 MB, 9:16 recommended (no range required).
STORY_IMAGE = ImageSpec(frozenset({"JPEG"}), 8 * MB, None, None, "story image")
# Reel Specifications: 3 s – 15 min, 300 MB, 1920 columns, aspect ratio 0.01:1 to 10:1.
REEL_VIDEO = VideoSpec(300 * MB, 3, 15 * 60, 1920, 0.01, 10.0, "reel")
# Story Video Specifications: 3 – 60 s, 100 MB, 1920 columns, aspect ratio 0.1:1 to 10:1.
STORY_VIDEO = VideoSpec(100 * MB, 3, 60, 1920, 0.1, 10.0, "story video")
# Carousel video items: the earlier "Video Specifications" (3 – 60 s, 100 MB, 4:5 to 16:9); not on today's page.
CAROUSEL_VIDEO = VideoSpec(100 * MB, 3, 60, 1920, 4 / 5, 16 / 9, "carousel video")

# Pixels an image may claim in its header. Meta scales feed images down to 1,440 pixels wide (its image
# specification's "maximum width"), so a larger file is still accepted; a camera's full-size photo
# (up to about 50 megapixels) stays under this. More is not a photo but a decompression bomb (a few
# kilobytes that decode to gigabytes); it is also under Pillow's own warning threshold (about 89 MP),
# so a real photo never trips Pillow's guard.
IMAGE_MAX_PIXELS = 8192 * 8192

# Containers accepted for video files.
VIDEO_CONTAINERS = frozenset({"mp4", "mov"})
