"""Trigger matching that ignores case and accents ("Preço" matches "preco"), in bounded time.

Pure functions, no database: ``trigger_match`` answers what a rule's trigger
found in a comment's (or a message's) text: the keyword, phrase or regex
match, or None.

Tenants write the patterns and the lists, so what one event costs must not
depend on what they save (one slow rule would hold a worker that every
tenant's automation shares):

- Regular expressions run on RE2 (google-re2), which never backtracks: its
  time is linear in the text, so ``(a+)+$`` costs what ``a+$`` costs. RE2 has
  no back-references and no look-arounds; such a pattern is refused when it
  is saved, with a message, and an older saved one that RE2 cannot compile
  never matches (logged, and shown on the rule as its ``trigger_problem``).
  RE2's worst case is the text's length times the compiled program's size,
  so the program is bounded too (``REGEX_MAX_PROGRAM_SIZE``).
- A keyword list is compiled once (cached by its content, so an edited rule
  compiles anew) into one RE2 set of literals that finds every keyword in a
  single pass over the text, whatever their number.
- Texts are cut at the longest comment Instagram accepts, and lists at the
  limits below (a row saved before the limits existed is cut the same way).
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import re2

from instaforge.text import accents_strip, text_fold
from instagram.limits import COMMENT_MAX_CHARS

logger = logging.getLogger(__name__)

# Instagram comments are at most 2,200 characters and messages 1,000 bytes (``instagram.limits``):
# no text Meta sends is longer, so a longer one is cut before any trigger sees it.
TEXT_MAX_LENGTH = COMMENT_MAX_CHARS
# NFKD may expand a character (a ligature into letters); the normalized text is bounded as well.
NORMALIZED_MAX_LENGTH = 4 * TEXT_MAX_LENGTH

REGEX_MAX_LENGTH = 500
# RE2 instructions. A member's pattern ("\b(price|cost|how much)\b", a phone number) needs well
# under 100; big counted repetitions ("(a|b){300}") need thousands and cost that many times the
# text's length on each comment. Measured: 400 instructions stay under ~2 ms on 2,200 characters.
REGEX_MAX_PROGRAM_SIZE = 400
REGEX_MAX_MEMORY = 2 << 20  # bytes per compiled pattern (RE2's program and its DFA cache)

# A keyword list is at most as long as the longest comment (2,200 characters, the longest text it
# is ever matched against), of at most 200 keywords, each at most 100 characters: a keyword is a
# word or a short phrase (a private reply, the longest text it may appear in, is 1,000 bytes).
# Measured at these sizes, the worst list compiles in under 30 ms once and matches a 2,200-character
# comment in about a millisecond.
KEYWORDS_MAX_CHARS = COMMENT_MAX_CHARS
KEYWORDS_MAX = 200
KEYWORD_MAX_LENGTH = 100
KEYWORD_SET_MAX_MEMORY = 8 << 20

# Code points that may appear inside an emoji sequence without being an emoji themselves.
_EMOJI_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}
# Word boundaries as marks in the text (see ``_marked``).
_BEFORE_WORD, _AFTER_WORD = "\x01", "\x02"


@lru_cache(maxsize=64)
def _normalized_text(text: str) -> str:
    """The text as triggers see it, once per event however many rules look at it."""
    return text_fold(text[:TEXT_MAX_LENGTH])[:NORMALIZED_MAX_LENGTH]


class _BoundaryMarks(dict[int, str]):
    """``str.translate`` table: a word character stays, any other is wrapped in boundary marks."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in (_BEFORE_WORD, _AFTER_WORD):
            char = " "  # a mark in the text itself reads as the non-word character it is
        marked = char if char.isalnum() or char == "_" else f"{_AFTER_WORD}{char}{_BEFORE_WORD}"
        if len(self) < 10_000:  # the table stays small whatever characters commenters use
            self[code] = marked
        return marked


_BOUNDARY_MARKS = _BoundaryMarks()


def _marked(text: str) -> str:
    """``text`` with a mark where a word may start and where one may end.

    ``\\x01`` stands before a character that follows a non-word character (or
    starts the text), ``\\x02`` after one that precedes a non-word character
    (or ends it). A keyword then stands in a text as whole words, as
    ``(?<!\\w)keyword(?!\\w)`` would find it, exactly when the marked keyword
    is a plain substring of the marked text: literal matching, no look-around.
    """
    return _BEFORE_WORD + text.translate(_BOUNDARY_MARKS) + _AFTER_WORD


@lru_cache(maxsize=64)
def _marked_text(text: str) -> str:
    return _marked(_normalized_text(text))


@lru_cache(maxsize=64)
def _marked_text_single_spaced(text: str) -> str:
    return _marked(" ".join(_normalized_text(text).split()))


# --- keyword lists ------------------------------------------------------------------------------


def keyword_list_parse(keywords: str) -> list[str]:
    """The keywords of a comma-separated list, as matching uses them: within the limits, in order.

    A list saved before the limits existed is cut to its first ``KEYWORDS_MAX``
    keywords within ``KEYWORDS_MAX_CHARS``; a longer keyword is left out.
    """
    text = keywords
    if len(text) > KEYWORDS_MAX_CHARS:
        text = text[:KEYWORDS_MAX_CHARS].rpartition(",")[0]  # never a keyword cut in two
    parts = (part.strip() for part in text.split(","))
    return [part for part in parts if part and len(part) <= KEYWORD_MAX_LENGTH][:KEYWORDS_MAX]


def keyword_list_error(keywords: str, *, what: str = "A keyword list") -> str | None:
    """Why a comma-separated list cannot be saved, or None when it is within the limits."""
    if len(keywords) > KEYWORDS_MAX_CHARS:
        return (
            f"{what} is at most {KEYWORDS_MAX_CHARS:,} characters, as long as the longest Instagram comment "
            f"(this one has {len(keywords):,})."
        )
    words = [word.strip() for word in keywords.split(",") if word.strip()]
    if len(words) > KEYWORDS_MAX:
        return f"{what} has at most {KEYWORDS_MAX} keywords (this one has {len(words)})."
    too_long = next((word for word in words if len(word) > KEYWORD_MAX_LENGTH), None)
    if too_long is not None:
        return f"A keyword is at most {KEYWORD_MAX_LENGTH} characters (“{too_long[:30]}…” has {len(too_long)})."
    return None


class _KeywordSet:
    """A keyword list compiled into one RE2 set of literals over marked text."""

    def __init__(self, keywords: tuple[str, ...]) -> None:
        self.positions: list[int] = []  # RE2 set index -> position in ``keywords``
        self.matcher: Any = None
        options = re2.Options()
        options.literal = True
        options.max_mem = KEYWORD_SET_MAX_MEMORY
        options.log_errors = False
        matcher = re2.Set.SearchSet(options)
        for position, keyword in enumerate(keywords):
            needle = text_fold(keyword).strip()
            if not needle or len(keyword) > KEYWORD_MAX_LENGTH:
                continue
            matcher.Add(_marked(needle))
            self.positions.append(position)
        if self.positions:
            matcher.Compile()
            self.matcher = matcher

    def found(self, text: str) -> list[int]:
        """Positions (in the list) of the keywords that stand in ``text`` as whole words, in order."""
        if self.matcher is None:
            return []
        hits = self.matcher.Match(_marked_text(text)) or []
        return sorted(self.positions[index] for index in hits)


@lru_cache(maxsize=256)
def _keyword_set(keywords: tuple[str, ...]) -> _KeywordSet:
    return _KeywordSet(keywords)


def _keywords_found(keywords: Sequence[str], text: str) -> list[int]:
    return _keyword_set(tuple(keywords[:KEYWORDS_MAX])).found(text)


def keyword_matches(*, keyword: str, text: str) -> bool:
    """True when ``keyword`` stands in ``text`` as whole words."""
    needle = text_fold(keyword).strip()
    if not needle or len(keyword) > KEYWORD_MAX_LENGTH:
        return False
    return _marked(needle) in _marked_text(text)


def any_keyword_matches(*, keywords: Sequence[str], text: str) -> str | None:
    """The first keyword (in the list's order) found in ``text``, or None."""
    found = _keywords_found(keywords, text)
    return keywords[found[0]] if found else None


def all_keywords_match(*, keywords: Sequence[str], text: str) -> str | None:
    """All keywords joined with ", " when every one is in ``text``, else None (None for no keywords)."""
    bounded = list(keywords[:KEYWORDS_MAX])
    if not bounded or len(_keywords_found(bounded, text)) < len(bounded):
        return None
    return ", ".join(bounded)


def phrase_matches(*, phrase: str, text: str) -> str | None:
    """The phrase when ``text`` contains it word for word (spacing and punctuation around it aside)."""
    words = text_fold(phrase[:KEYWORDS_MAX_CHARS]).split()
    if not words:
        return None
    return phrase.strip() if _marked(" ".join(words)) in _marked_text_single_spaced(text) else None


# --- regular expressions --------------------------------------------------------------------------


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only the whole match is used; groups would make RE2 slower
    options.max_mem = REGEX_MAX_MEMORY
    options.log_errors = False
    return options


def _re2_problem(error: Exception) -> str:
    detail = error.args[0] if error.args else ""
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", errors="replace")
    detail = str(detail)
    if detail.startswith("invalid escape sequence: \\") and detail[-1:].isdigit():
        return (
            "Back-references (\\1, \\2…) are not supported: patterns run on RE2, "
            "which matches in linear time and has no back-references."
        )
    if detail.startswith(tuple(f"invalid perl operator: (?{operator}" for operator in "<=!")):
        return (
            "Look-ahead and look-behind ((?=…), (?!…), (?<=…), (?<!…)) are not supported: "
            "patterns run on RE2, which matches in linear time and has no look-arounds."
        )
    if "pattern too large" in detail:
        return "This regular expression is too complex. Use fewer or smaller repetitions ({n})."
    return f"This is not a valid regular expression (RE2 syntax): {detail}."


def regex_compile(pattern: str) -> Any:
    """Compile a member's pattern with RE2 (accents stripped, case ignored).

    Raises ``ValueError`` with a message a member can act on: empty, too long,
    syntax RE2 does not have (back-references, look-arounds) or too complex.
    """
    if not pattern.strip():
        raise ValueError("Enter a regular expression.")
    if len(pattern) > REGEX_MAX_LENGTH:
        raise ValueError(f"A regular expression is at most {REGEX_MAX_LENGTH} characters.")
    try:
        compiled = re2.compile(accents_strip(pattern), _regex_options())
    except re2.error as exc:
        raise ValueError(_re2_problem(exc)) from exc
    if compiled.programsize > REGEX_MAX_PROGRAM_SIZE:
        raise ValueError(
            "This regular expression is too complex "
            f"({compiled.programsize} RE2 instructions, at most {REGEX_MAX_PROGRAM_SIZE}). "
            "Use fewer or smaller repetitions ({n})."
        )
    return compiled


@lru_cache(maxsize=256)
def _regex_cached(pattern: str) -> tuple[Any, str]:
    """The compiled pattern, or None and why (a row saved before RE2, or past today's limits)."""
    try:
        return regex_compile(pattern), ""
    except ValueError as exc:
        logger.warning("A saved regular expression never matches: %s (pattern %r)", exc, pattern[:100])
        return None, str(exc)


def regex_matches(*, pattern: str, text: str) -> str | None:
    """The matched text, or None (None for a pattern RE2 cannot run: such a rule is refused on save)."""
    compiled, _problem = _regex_cached(pattern)
    if compiled is None:
        return None
    found = compiled.search(_normalized_text(text))
    return str(found.group(0)) if found else None


# --- emoji ----------------------------------------------------------------------------------------


def _is_emoji_char(char: str) -> bool:
    if char in _EMOJI_JOINERS:
        return True
    category = unicodedata.category(char)
    # So: pictographs, symbols and regional indicators; Sk covers the skin-tone modifiers (U+1F3FB–1F3FF).
    return category == "So" or (category == "Sk" and 0x1F3FB <= ord(char) <= 0x1F3FF)


def is_emoji_only(text: str) -> bool:
    """True when ``text`` has at least one emoji and nothing else but spaces."""
    characters = [char for char in text[:TEXT_MAX_LENGTH] if not char.isspace()]
    return any(char not in _EMOJI_JOINERS for char in characters) and all(_is_emoji_char(c) for c in characters)


# --- a rule's trigger -----------------------------------------------------------------------------


def trigger_match(*, trigger_type: str, keywords: str, text: str) -> str | None:
    """What the trigger found in ``text``: the keyword(s), phrase, regex match or the emoji; None when nothing."""
    if trigger_type == "any":
        return any_keyword_matches(keywords=keyword_list_parse(keywords), text=text)
    if trigger_type == "all":
        return all_keywords_match(keywords=keyword_list_parse(keywords), text=text)
    if trigger_type == "phrase":
        return phrase_matches(phrase=keywords, text=text)
    if trigger_type == "regex":
        return regex_matches(pattern=keywords, text=text)
    if trigger_type == "emoji_only":
        return text.strip() if is_emoji_only(text) else None
    raise ValueError(f"unknown trigger type {trigger_type!r}")


def trigger_problem(*, trigger_type: str, keywords: str) -> str:
    """Why a saved trigger never matches or is only partly used ("" when it is fine).

    For rows saved before the limits and RE2: shown on the rule, and the rule keeps working
    with what can be used (a list's first keywords) or never matches (a pattern RE2 refuses).
    """
    if trigger_type == "regex":
        return _regex_cached(keywords)[1]
    if trigger_type in ("any", "all"):
        error = keyword_list_error(keywords)
        if error is not None:
            used = len(keyword_list_parse(keywords))
            return f"{error} Only the {used} keyword{'s' if used != 1 else ''} within the limits are matched."
    return ""
