"""Trigger matching that ignores case and accents ("Preço" matches "preco").

Pure functions, no database: ``trigger_match`` answers what a rule's trigger
found in a comment's text (the keyword, phrase or regex match), or None.
"""

from __future__ import annotations

import re
import unicodedata

REGEX_MAX_LENGTH = 500
# Instagram comments are at most 2,200 characters; a longer text is cut before a regex sees it.
TEXT_MAX_LENGTH = 2200

# Code points that may appear inside an emoji sequence without being an emoji themselves.
_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
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


def all_keywords_match(*, keywords: list[str], text: str) -> str | None:
    """All keywords joined with ", " when every one is in ``text``, else None (None for no keywords)."""
    if not keywords or not all(keyword_matches(keyword=keyword, text=text) for keyword in keywords):
        return None
    return ", ".join(keywords)


def phrase_matches(*, phrase: str, text: str) -> str | None:
    """The phrase when ``text`` contains it word for word (spacing and punctuation around it aside)."""
    words = normalize(phrase).split()
    if not words:
        return None
    pattern = r"(?<!\w)" + r"\s+".join(re.escape(word) for word in words) + r"(?!\w)"
    return phrase.strip() if re.search(pattern, normalize(text)) else None


def regex_compile(pattern: str) -> re.Pattern[str]:
    """Compile a member's pattern (accents stripped, case ignored). Raises ``ValueError`` with a readable message."""
    if not pattern.strip():
        raise ValueError("Enter a regular expression.")
    if len(pattern) > REGEX_MAX_LENGTH:
        raise ValueError(f"A regular expression is at most {REGEX_MAX_LENGTH} characters.")
    try:
        return re.compile(_strip_accents(pattern), re.IGNORECASE)
    except re.error as exc:
        position = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(f"This is not a valid regular expression: {exc.msg}{position}.") from exc


def regex_matches(*, pattern: str, text: str) -> str | None:
    """The matched text, or None (None for an invalid pattern too: such a rule is refused on save)."""
    try:
        compiled = regex_compile(pattern)
    except ValueError:
        return None
    found = compiled.search(normalize(text[:TEXT_MAX_LENGTH]))
    return found.group(0) if found else None


def _is_emoji_char(char: str) -> bool:
    if char in _EMOJI_JOINERS:
        return True
    category = unicodedata.category(char)
    # So: pictographs, symbols and regional indicators; Sk covers the skin-tone modifiers (U+1F3FB–1F3FF).
    return category == "So" or (category == "Sk" and 0x1F3FB <= ord(char) <= 0x1F3FF)


def is_emoji_only(text: str) -> bool:
    """True when ``text`` has at least one emoji and nothing else but spaces."""
    characters = [char for char in text if not char.isspace()]
    return any(char not in _EMOJI_JOINERS for char in characters) and all(_is_emoji_char(c) for c in characters)


def trigger_match(*, trigger_type: str, keywords: str, text: str) -> str | None:
    """What the trigger found in ``text``: the keyword(s), phrase, regex match or the emoji; None when nothing."""
    keyword_list = [keyword.strip() for keyword in keywords.split(",") if keyword.strip()]
    if trigger_type == "any":
        return any_keyword_matches(keywords=keyword_list, text=text)
    if trigger_type == "all":
        return all_keywords_match(keywords=keyword_list, text=text)
    if trigger_type == "phrase":
        return phrase_matches(phrase=keywords, text=text)
    if trigger_type == "regex":
        return regex_matches(pattern=keywords, text=text)
    if trigger_type == "emoji_only":
        return text.strip() if is_emoji_only(text) else None
    raise ValueError(f"unknown trigger type {trigger_type!r}")
