"""Limits of Meta's messaging API that several apps check before anything is sent.

Instagram Platform, "Send a Message": "Message text must be UTF-8 and be a
1000 bytes or less." The same page's Limitations list says "less than 1000
characters"; bytes are the stricter reading (an accented letter takes two, an
emoji four), so that is the one checked. Private replies are messages too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

MESSAGE_MAX_BYTES = 1000

# Meta's Send API: a normal message within 24 hours of the person's last message; a person
# (never automation) may answer up to 7 days after it with the HUMAN_AGENT tag.
STANDARD_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)


def message_text_size(text: str) -> int:
    return len(text.encode("utf-8"))


def message_text_error(text: str, *, what: str = "An Instagram message") -> str | None:
    """Why ``text`` cannot be sent as a message, or None when it fits."""
    size = message_text_size(text)
    if size <= MESSAGE_MAX_BYTES:
        return None
    return (
        f"{what} is at most {MESSAGE_MAX_BYTES:,} bytes of UTF-8 (this one has {size:,}; "
        "accented letters take 2 bytes, emoji 4)."
    )


def message_texts_error(texts: Iterable[str], *, what: str) -> str | None:
    """The first of ``texts`` that cannot be sent, said as ``message_text_error`` says it; None when all fit."""
    return next(filter(None, (message_text_error(text, what=what) for text in texts)), None)


def message_text_clip(text: str) -> str:
    """``text`` cut to the limit, never in the middle of a character."""
    return text.encode("utf-8")[:MESSAGE_MAX_BYTES].decode("utf-8", errors="ignore")


# A comment (and a public reply to one) is at most 2,200 characters. Meta's comment endpoints
# (POST /{ig-media-id}/comments, POST /{ig-comment-id}/replies) document no figure of their own;
# 2,200 is Instagram's limit for a caption ("Maximum 2200 characters", Content Publishing,
# publishing/limits.py) and the app holds comments to the same. Inbound comment text is matched
# against rules only up to this length, and public reply templates are refused beyond it.
COMMENT_MAX_CHARS = 2200
