"""Small valid media files made on the fly: for the demo, the benchmark and the tests."""

from __future__ import annotations

import io

from PIL import Image

from publishing.mediainfo import mp4_build
from publishing.services import Upload


def sample_jpeg(
    width: int = 1080,
    height: int = 1080,
    name: str = "photo.jpg",
    image_format: str = "JPEG",
    color: tuple[int, int, int] = (200, 120, 40),
) -> Upload:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format=image_format)
    data = buffer.getvalue()
    return Upload(name=name, stream=io.BytesIO(data), size=len(data))


def sample_mp4(width: int = 1080, height: int = 1920, seconds: float = 10, name: str = "clip.mp4") -> Upload:
    data = mp4_build(width=width, height=height, seconds=seconds)
    return Upload(name=name, stream=io.BytesIO(data), size=len(data))
