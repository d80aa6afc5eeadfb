"""Input no member types but an attacker (or a broken file) sends: answered with a message, never a 500.

Issue 18, finding 4: the calendar at the ends of ``datetime``'s range, an image
whose header claims 30000×30000 pixels, damaged media files, a CSV cell over the
csv module's limit, a NUL in a CSV, times that overflow on the way to UTC.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.models import Membership
from accounts.tenancy import workspace_scope
from publishing import importing, limits
from publishing.mediainfo import MediaUnreadable, image_info, mp4_build, video_info
from publishing.models import ScheduledPost
from publishing.services import post_create
from publishing.tests.conftest import jpeg as jpeg_upload


def jpeg(width: int = 1080, height: int = 1080) -> bytes:
    upload = jpeg_upload(width, height)
    upload.stream.seek(0)
    return upload.stream.read()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few bytes whose header claims ``width``×``height`` pixels."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    marker = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, marker + 5, height, width)
    return bytes(data)


@pytest.fixture
def member(client: Client, workspace, make_account, media_root):
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return make_account(workspace, time_zone="America/New_York")


@pytest.mark.parametrize("view", ["month", "week"])
@pytest.mark.parametrize("day", ["9999-12-15", "9999-12-31", "0001-01-01", "0001-01-03"])
def test_the_calendar_at_the_ends_of_the_date_range_shows_today(client: Client, member, view: str, day: str) -> None:
    response = client.get(reverse("post_calendar"), {"date": day, "view": view})
    assert response.status_code == 200
    assert response.context["anchor"] == date.today()


def test_the_calendar_still_opens_a_month_in_range(client: Client, member) -> None:
    response = client.get(reverse("post_calendar"), {"date": "2031-03-10"})
    assert response.status_code == 200 and response.context["title"] == "March 2031"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (png_claiming(30_000, 30_000), "too large"),  # Pillow: DecompressionBombError
        (jpeg_claiming(30_000, 30_000), "too large"),
        (jpeg_claiming(10_000, 10_000), "too large"),  # Pillow: only a warning; refused by the product's limit
        (jpeg(1080, 1080)[:200], "damaged or truncated"),  # Pillow: SyntaxError in the plugin
        (jpeg(1080, 1080)[:2], "not an image Pillow can read"),
        (b"", "The submitted file is empty"),
    ],
)
def test_an_image_too_large_or_damaged_is_a_form_error(client: Client, member, content: bytes, message: str) -> None:
    response = client.post(
        reverse("post_compose"),
        {"account": member.pk, "kind": "image", "media_files": [SimpleUploadedFile("photo.jpg", content)]},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ScheduledPost.all_workspaces.exists()


def test_pillows_bomb_warning_raised_as_an_error_is_still_a_refusal() -> None:
    # Where warnings are errors (python -W error, a strict test run), Pillow raises its warning instead.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MediaUnreadable, match="too large"):
            image_info(io.BytesIO(jpeg_claiming(10_000, 10_000)))


def test_a_photo_from_a_camera_is_not_a_bomb() -> None:
    # 8000×6000 (48 MP): under the product's limit and under Pillow's warning threshold.
    assert 8000 * 6000 <= limits.IMAGE_MAX_PIXELS < (Image.MAX_IMAGE_PIXELS or 0)
    assert image_info(io.BytesIO(jpeg_claiming(8000, 6000))).width == 8000


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


MOVIE_HEADER = struct.pack(">B3xIIII", 0, 0, 0, 1000, 5000) + b"\x00" * 80
FILE_TYPE = box(b"ftyp", b"isom\x00\x00\x02\x00")


@pytest.mark.parametrize(
    "data",
    [
        mp4_build(width=1080, height=1920, seconds=10)[:60],
        FILE_TYPE + box(b"moov", box(b"mvhd", b"")),  # an empty movie header
        FILE_TYPE + box(b"moov", box(b"mvhd", b"\x01" + b"\x00" * 10)),  # version 1, cut short
        FILE_TYPE + box(b"moov", box(b"mvhd", MOVIE_HEADER) + box(b"trak", box(b"tkhd", b"\x00" * 10))),
    ],
)
def test_a_damaged_video_header_is_unreadable_not_a_crash(data: bytes) -> None:
    with pytest.raises(MediaUnreadable):
        video_info(io.BytesIO(data))


def _import(workspace, csv_text: str):
    with workspace_scope(workspace):
        return importing.posts_import(accounts=[], csv_text=csv_text, files=[])


def test_a_csv_cell_over_the_csv_modules_limit_names_its_line(workspace) -> None:
    text = "account,kind,media,caption\nbrand,image,a.jpg,ok\nbrand,image,a.jpg," + "x" * 200_000 + "\n"
    report = _import(workspace, text)
    assert report.errors[-1] == (
        3,
        "a cell is longer than 131,072 characters (a caption takes at most 2,200)",
    )


def test_a_csv_with_a_nul_is_refused_naming_its_line(workspace) -> None:
    report = _import(workspace, "account,kind,media,caption\nbrand,image,a.jpg,ok\nbrand,image,a.jpg,a\x00b\n")
    assert report.errors == [(3, "the file contains a NUL character: save it from the spreadsheet as CSV text")]


@pytest.mark.parametrize(
    "when", ["9999-12-31 23:59", "9999-12-31T23:59-05:00", "0001-01-01 00:00", "0001-01-01T00:00+05:00"]
)
def test_a_csv_time_out_of_range_is_a_line_error(client: Client, member, when: str) -> None:
    csv_text = f"account,kind,media,scheduled_at\n{member.username},image,photo.jpg,{when}\n"
    response = client.post(
        reverse("post_import"),
        {
            "csv_file": SimpleUploadedFile("posts.csv", csv_text.encode()),
            "media_files": [SimpleUploadedFile("photo.jpg", jpeg())],
        },
    )
    assert response.status_code == 200
    assert "Pick a date between 2010 and 2100" in response.content.decode()
    assert not ScheduledPost.all_workspaces.exists()


def test_a_csv_location_id_longer_than_the_column_is_a_line_error(client: Client, member) -> None:
    csv_text = f"account,kind,media,location_id\n{member.username},image,photo.jpg,{'1' * 65}\n"
    response = client.post(
        reverse("post_import"),
        {
            "csv_file": SimpleUploadedFile("posts.csv", csv_text.encode()),
            "media_files": [SimpleUploadedFile("photo.jpg", jpeg())],
        },
    )
    assert response.status_code == 200 and "at most 64 characters" in response.content.decode()
    assert not ScheduledPost.all_workspaces.exists()


def test_a_csv_too_large_is_refused_before_it_is_read(client: Client, member, settings) -> None:
    big = SimpleUploadedFile("posts.csv", b"account,kind,media\n" + b"x" * (10 * 1024 * 1024))
    response = client.post(reverse("post_import"), {"csv_file": big})
    assert response.status_code == 200 and "at most 10 MB" in response.content.decode()


@pytest.mark.parametrize("when", ["9999-12-31T23:59", "0001-01-01T00:00"])
def test_a_composer_time_out_of_range_is_a_form_error(client: Client, member, when: str) -> None:
    response = client.post(
        reverse("post_compose"),
        {
            "account": member.pk,
            "kind": "image",
            "scheduled_at": when,
            "media_files": [SimpleUploadedFile("photo.jpg", jpeg())],
        },
    )
    assert response.status_code == 200 and "Pick a date between 2010 and 2100" in response.content.decode()
    assert not ScheduledPost.all_workspaces.exists()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_moving_or_scheduling_a_post_out_of_range_is_refused(client: Client, member, day: str) -> None:
    with workspace_scope(member.workspace_id):
        post = post_create(account=member, kind="image", caption="", uploads=[jpeg_upload()])
    moved = client.post(
        reverse("post_move", args=[post.pk]), {"date": day, "time": "23:59"}, content_type="application/json"
    )
    assert moved.status_code == 400 and "2010 and 2100" in moved.json()["error"]
    scheduled = client.post(reverse("post_schedule", args=[post.pk]), {"scheduled_at": f"{day}T23:59"}, follow=True)
    assert scheduled.status_code == 200 and "Pick a date between 2010 and 2100" in scheduled.content.decode()
    post.refresh_from_db()
    assert post.scheduled_at is None


def test_a_json_body_nested_thousands_deep_is_a_400(client: Client, member) -> None:
    with workspace_scope(member.workspace_id):
        post = post_create(account=member, kind="image", caption="", uploads=[jpeg_upload()])
    response = client.post(reverse("post_move", args=[post.pk]), "[" * 100_000, content_type="application/json")
    assert response.status_code == 400
