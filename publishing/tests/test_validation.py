"""Each of Meta's documented limits refuses the post with a clear message, and nothing is stored or sent."""

from __future__ import annotations

import io

import pytest
from django.utils import timezone
from PIL import Image

from actions.models import Action
from publishing import limits
from publishing.mediainfo import mp4_build, video_info
from publishing.models import PostMedia, ScheduledPost
from publishing.services import PostInvalid, Upload, post_create
from publishing.tests.conftest import jpeg, mp4
from sandbox.models import SandboxCall


def big_jpeg(megabytes: int) -> Upload:
    upload = jpeg(1080, 1080, "big.jpg")
    data = upload.stream.read() + b"\x00" * (megabytes * limits.MB)  # JPEG readers stop at the end marker
    return Upload(name="big.jpg", stream=io.BytesIO(data), size=len(data))


CASES = [
    (
        "caption length",
        dict(kind="image", caption="a" * 2201),
        [jpeg],
        "2201 characters; Instagram allows at most 2200",
    ),
    (
        "hashtags",
        dict(kind="image", caption=" ".join(f"#tag{i}" for i in range(31))),
        [jpeg],
        "31 hashtags; Instagram allows at most 30",
    ),
    (
        "mentions",
        dict(kind="image", caption=" ".join(f"@user{i}" for i in range(21))),
        [jpeg],
        "21 @ mentions; Instagram allows at most 20",
    ),
    ("first comment", dict(kind="image", first_comment="a" * 2300), [jpeg], "first comment has 2300 characters"),
    ("carousel of one", dict(kind="carousel"), [jpeg], "A carousel has 2 to 10 images or videos (this one has 1)"),
    ("carousel of eleven", dict(kind="carousel"), [jpeg] * 11, "(this one has 11)"),
    (
        "PNG image",
        dict(kind="image"),
        [lambda: jpeg(name="p.png", image_format="PNG")],
        "must be a JPEG file (this one is PNG)",
    ),
    ("image size", dict(kind="image"), [lambda: big_jpeg(9)], "may be at most 8 MB"),
    ("too tall", dict(kind="image"), [lambda: jpeg(1080, 1920)], "aspect ratio between 4:5 and 1.91:1"),
    ("too wide", dict(kind="image"), [lambda: jpeg(2000, 1000)], "aspect ratio between 4:5 and 1.91:1"),
    (
        "reel too short",
        dict(kind="reel"),
        [lambda: mp4(seconds=2)],
        "must last between 3 s and 900 s (this one lasts 2.0 s)",
    ),
    ("reel too long", dict(kind="reel"), [lambda: mp4(seconds=901)], "must last between 3 s and 900 s"),
    ("reel too wide", dict(kind="reel"), [lambda: mp4(width=2160, height=3840)], "at most 1920 pixels wide"),
    ("story video too long", dict(kind="story"), [lambda: mp4(seconds=61)], "must last between 3 s and 60 s"),
    ("story caption", dict(kind="story", caption="hi"), [lambda: jpeg(1080, 1920)], "Stories do not take a caption"),
    (
        "carousel video too long",
        dict(kind="carousel"),
        [jpeg, lambda: mp4(1080, 1080, 61)],
        "carousel video must last between 3 s and 60 s",
    ),
    ("alt text on reel", dict(kind="reel", alt_text="x"), [mp4], "Alt text is for image posts only"),
    ("alt text length", dict(kind="image", alt_text="x" * 1001), [jpeg], "Alt text may be at most 1000 characters"),
    ("collaborators", dict(kind="image", collaborators=["a", "b", "c", "d"]), [jpeg], "At most 3 collaborators"),
    (
        "collaborators on story",
        dict(kind="story", collaborators=["a"]),
        [lambda: jpeg(1080, 1920)],
        "Stories cannot have collaborators",
    ),
    (
        "user tags",
        dict(kind="image", user_tags=[{"username": f"u{i}", "x": 0.1, "y": 0.1} for i in range(21)]),
        [jpeg],
        "At most 20 people can be tagged",
    ),
    (
        "user tag position",
        dict(kind="image", user_tags=[{"username": "u", "x": 1.5, "y": 0.1}]),
        [jpeg],
        "x must be between 0.0 and 1.0",
    ),
    ("image as reel", dict(kind="reel"), [jpeg], "a reel needs a video file"),
    (
        "not a video",
        dict(kind="reel"),
        [lambda: Upload(name="v.mp4", stream=io.BytesIO(b"nope"), size=4)],
        "not an MP4/MOV file",
    ),
    ("no file", dict(kind="image"), [], "Add the photo or video to publish"),
]


@pytest.mark.parametrize(("label", "fields", "files", "message"), CASES, ids=[case[0] for case in CASES])
def test_each_limit_rejects_with_a_message_and_nothing_is_stored_or_sent(
    workspace, make_account, media_root, label, fields, files, message
) -> None:
    account = make_account(workspace)
    with pytest.raises(PostInvalid) as raised:
        post_create(account=account, uploads=[make() for make in files], scheduled_at=timezone.now(), **fields)
    assert any(message in error for error in raised.value.errors), raised.value.errors
    assert not ScheduledPost.all_workspaces.exists() and not PostMedia.all_workspaces.exists()
    assert not Action.all_workspaces.exists() and not SandboxCall.objects.exists()
    assert not (media_root.exists() and any(media_root.rglob("*.*")))


def test_limits_at_the_edge_are_accepted(workspace, make_account, media_root) -> None:
    account = make_account(workspace)
    caption = " ".join([*(f"#t{i}" for i in range(30)), *(f"@u{i}" for i in range(20))])
    post = post_create(account=account, kind="image", caption=caption, uploads=[jpeg(1080, 1350)])
    assert post.state == "draft" and post.media.get().width == 1080
    post_create(account=account, kind="image", uploads=[jpeg(1910, 1000)])
    post_create(account=account, kind="carousel", uploads=[jpeg() for _ in range(10)])
    post_create(account=account, kind="reel", uploads=[mp4(seconds=900)])


def test_video_header_reader_gives_duration_and_size() -> None:
    info = video_info(io.BytesIO(mp4_build(width=720, height=1280, seconds=42.5)))
    assert (info.width, info.height, info.duration_seconds, info.format) == (720, 1280, 42.5, "mp4")


def test_image_reader_uses_pillow() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 800)).save(buffer, format="JPEG")
    from publishing.mediainfo import image_info

    assert image_info(io.BytesIO(buffer.getvalue())).format == "JPEG"
