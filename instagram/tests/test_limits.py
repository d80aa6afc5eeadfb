"""The messaging text limit: "Message text must be UTF-8 and be a 1000 bytes or less" (Send a Message)."""

from __future__ import annotations

import pytest

from instagram.limits import MESSAGE_MAX_BYTES, message_text_clip, message_text_error


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("x" * 1000, True),
        ("x" * 1001, False),
        ("é" * 500, True),  # 2 bytes each
        ("é" * 501, False),
        ("😊" * 250, True),  # 4 bytes each
        ("😊" * 251, False),
    ],
)
def test_the_limit_counts_utf8_bytes_not_characters(text: str, fits: bool) -> None:
    error = message_text_error(text)
    assert (error is None) is fits
    if not fits:
        assert f"this one has {len(text.encode()):,}" in str(error)


def test_clipping_never_cuts_a_character_in_half() -> None:
    clipped = message_text_clip("a" + "😊" * 300)  # 1 + 1,200 bytes
    assert clipped == "a" + "😊" * 249  # 997 bytes: a 250th emoji would need 1,001
    assert len(clipped.encode()) <= MESSAGE_MAX_BYTES
    assert message_text_clip("short") == "short"
