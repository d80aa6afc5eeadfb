"""What a media file is: image format and size with Pillow; video duration and size from the MP4/MOV header.

For videos no maintained pure-Python library reads both duration and picture
size (pymediainfo needs the MediaInfo system library, mutagen reads the
duration only from an audio track), so the few boxes needed are read here:
``moov/mvhd`` (timescale, duration) and each ``trak/tkhd`` (width and height,
16.16 fixed point). Meta requires the ``moov`` atom at the front of the file
("moov atom at the front of the file"), which is the layout this reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

from publishing import limits

CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts"}


class MediaUnreadable(ValueError):
    """The file is not an image or video this module can read."""


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "image" or "video"
    format: str  # Pillow's format name (JPEG, PNG, ...) or "mp4"/"mov"
    width: int
    height: int
    duration_seconds: float | None = None


def image_info(stream: IO[bytes]) -> MediaInfo:
    """Format and size from the image's header; the pixels are never decoded.

    An image whose header claims more than ``limits.IMAGE_MAX_PIXELS`` is
    refused as too large: that is a decompression bomb (a few kilobytes that
    would decode to gigabytes), not a photo. Pillow's own guard fires in
    ``Image.open`` (a ``DecompressionBombError`` above twice its
    ``MAX_IMAGE_PIXELS``, a warning above it, an error too where warnings are
    errors): both become the same refusal.
    """
    # Imported here, not at the top: Pillow (a few MiB with its native modules) reads an uploaded image's
    # header and nothing else, while this module is imported by every process (publishing's services, the
    # privacy app's erasure, the admin), the dispatcher and django-q2's cluster included (issue 23).
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(stream) as image:
            width, height, image_format = image.width, image.height, str(image.format or "")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaUnreadable(f"the image is too large to read (at most {limits.IMAGE_MAX_PIXELS:,} pixels)") from exc
    except UnidentifiedImageError as exc:
        raise MediaUnreadable("not an image Pillow can read") from exc
    except Exception as exc:  # a damaged header breaks each format plugin its own way (SyntaxError, struct.error…)
        raise MediaUnreadable("the image is damaged or truncated") from exc
    if width * height > limits.IMAGE_MAX_PIXELS:
        raise MediaUnreadable(
            f"the image is too large to read ({width}×{height}; at most {limits.IMAGE_MAX_PIXELS:,} pixels)"
        )
    return MediaInfo("image", image_format, width, height)


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box between ``start`` and ``end``."""
    found = []
    position = start
    while position + 8 <= end:
        size, kind = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1:
            if position + 16 > end:
                break
            size = struct.unpack(">Q", data[position + 8 : position + 16])[0]
            header = 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            break
        found.append((kind, position + header, position + size))
        position += size
    return found


def _walk(data: bytes, start: int, end: int, out: dict[bytes, list[tuple[int, int]]]) -> None:
    for kind, payload, box_end in _boxes(data, start, end):
        out.setdefault(kind, []).append((payload, box_end))
        if kind in CONTAINER_BOXES:
            _walk(data, payload, box_end, out)


# Enough to hold the header boxes of a "fast start" file (moov first, as Meta requires).
HEADER_BYTES = 4 * 1024 * 1024


def video_info(stream: IO[bytes]) -> MediaInfo:
    """Duration and the largest track's picture size of an MP4/MOV file (``MediaUnreadable`` if damaged)."""
    data = stream.read(HEADER_BYTES)
    try:
        return _video_header(data)
    except (struct.error, IndexError) as exc:  # a box shorter than its type's fields: truncated or forged
        raise MediaUnreadable("the video's header is damaged or truncated") from exc


def _video_header(data: bytes) -> MediaInfo:
    top = _boxes(data, 0, len(data))
    kinds = [kind for kind, _, _ in top]
    if not kinds or kinds[0] != b"ftyp":
        raise MediaUnreadable("not an MP4/MOV file (no ftyp box at the start)")
    brand = data[top[0][1] : top[0][1] + 4]
    if b"moov" not in kinds:
        raise MediaUnreadable("the moov atom is not at the front of the file (Meta requires it there)")
    boxes: dict[bytes, list[tuple[int, int]]] = {}
    _walk(data, 0, len(data), boxes)
    if b"mvhd" not in boxes:
        raise MediaUnreadable("no movie header (mvhd) box")
    payload, _ = boxes[b"mvhd"][0]
    version = data[payload]
    if version == 1:
        timescale, duration = struct.unpack(">IQ", data[payload + 20 : payload + 32])
    else:
        timescale, duration = struct.unpack(">II", data[payload + 12 : payload + 20])
    if not timescale:
        raise MediaUnreadable("the movie header has no timescale")
    width = height = 0
    for payload, _ in boxes.get(b"tkhd", []):
        offset = payload + (88 if data[payload] == 1 else 76)
        track_width, track_height = struct.unpack(">II", data[offset : offset + 8])
        if track_width * track_height > width * height * 65536 * 65536:
            width, height = track_width >> 16, track_height >> 16
    return MediaInfo("video", "mov" if brand == b"qt  " else "mp4", width, height, duration / timescale)


def mp4_build(*, width: int, height: int, seconds: float, timescale: int = 1000) -> bytes:
    """A minimal MP4 header (ftyp, moov/mvhd, one video trak/tkhd), for tests and the demo's sample files."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I4s", 8 + len(payload), kind) + payload

    duration = int(seconds * timescale)
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, timescale, duration) + b"\x00" * 80
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = (
        struct.pack(">B3sIIIII", 0, b"\x00\x00\x03", 0, 0, 1, 0, duration)
        + b"\x00" * 8
        + struct.pack(">hhhH", 0, 0, 0, 0)
        + matrix
        + struct.pack(">II", width << 16, height << 16)
    )
    trak = box(b"trak", box(b"tkhd", tkhd))
    return (
        box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41") + box(b"moov", box(b"mvhd", mvhd) + trak) + box(b"mdat", b"")
    )
