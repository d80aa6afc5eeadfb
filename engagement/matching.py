"""Keyword matching that ignores case and accents ("Preço" matches "preco")."""

from __future__ import annotations

import re
import unicodedata


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def keyword_matches(*, keyword: str, text: str) -> bool:
    """True when ``keyword`` stands in ``text`` as whole words."""
    needle = normalize(keyword).strip()
    if not needle:
        return False
    return re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", normalize(text)) is not None


def any_keyword_matches(*, keywords: list[str], text: str) -> str | None:
    """The first keyword found in ``text``, or None."""
    for keyword in keywords:
        if keyword_matches(keyword=keyword, text=text):
            return keyword
    return None
