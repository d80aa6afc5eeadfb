"""Text helpers every app shares: folding (case and accents), sentiment, language, reply templates.

Pure functions over strings, no database and no app imports, so any app can use
them (safety, engagement and messaging do) without an import cycle.

- ``text_fold``: what "ignoring case and accents" means everywhere ("Preço" and
  "preco" fold to the same text); ``accents_strip`` keeps the case (a regular
  expression's ``\\D`` must not become ``\\d``).
- ``sentiment_score``: VADER's compound score, ``language_of``: Lingua's guess.
  Both are well-kept libraries that ship their data inside their PyPI packages;
  nothing is downloaded at run time.
- ``template_render``: the one placeholder syntax of every reply a member
  writes (comment replies, private replies, DM rules, flow steps, the AI
  fallback): ``{name}`` in single braces. The placeholders of a person are the
  same everywhere (``PERSON_PLACEHOLDERS``); comment replies add ``{keyword}``
  and ``{post_caption}``, flows the variables of earlier answers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

if TYPE_CHECKING:
    from lingua import LanguageDetector

# --- folding ------------------------------------------------------------------------------------


def accents_strip(text: str) -> str:
    """``text`` decomposed (NFKD) without its combining marks: "Preço" → "Preco", "ﬁ" → "fi"; case kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def text_fold(text: str) -> str:
    """``text`` with case and accents folded: "PREÇO", "Preço" and "preco" all give "preco"."""
    return accents_strip(text.casefold())


# --- sentiment and language ---------------------------------------------------------------------


@lru_cache(maxsize=1)
def _sentiment_analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _language_detector() -> LanguageDetector:
    # Imported here, not at the top: Lingua is a 100 MB native library (about 2 MiB of each process that
    # imports it), needed only by comment rules limited to languages, so never by the web processes or the
    # dispatcher, which import this module through engagement's models (issue 23).
    from lingua import LanguageDetectorBuilder

    # Low-accuracy mode uses Lingua's trigram models only: ~100 MB for all 75 languages instead of ~1 GB,
    # still reliable on sentences; its models load lazily, per language, the first time they are needed.
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def sentiment_score(*, text: str) -> float:
    """VADER's compound score of ``text``: -1 (most negative) to 1 (most positive); 0 for no text."""
    if not text.strip():
        return 0.0
    return float(_sentiment_analyzer().polarity_scores(text)["compound"])


def language_of(*, text: str) -> str:
    """The ISO 639-1 code of the text's language (``"en"``, ``"pt"``…), or ``""`` when unsure or too short."""
    if sum(char.isalpha() for char in text) < 3:
        return ""
    language = _language_detector().detect_language_of(text)
    return language.iso_code_639_1.name.lower() if language is not None else ""


# --- templates ----------------------------------------------------------------------------------

# A person's placeholders, the same in every template: ``{username}`` (with its @), ``{name}`` (the
# name they gave Instagram, else their username) and ``{first_name}`` (the name's first word).
PERSON_PLACEHOLDERS = ("username", "name", "first_name")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def person_values(*, username: str, name: str) -> dict[str, str]:
    """The values of ``PERSON_PLACEHOLDERS`` for a person known by ``username`` and ``name`` (either may be "")."""
    return {
        "username": f"@{username}" if username else "",
        "name": name or username,
        "first_name": name.split()[0] if name.split() else "",
    }


def template_render(template: str, *, values: Mapping[str, str]) -> str:
    """``template`` with each ``{placeholder}`` of ``values`` filled in; any other ``{…}`` stays as written.

    A value that is empty (a person not known yet) leaves no gap: its
    placeholder goes with the spaces before it, and with a comma it would
    leave dangling before ``!``, ``?``, ``.`` or the end ("Hi {name}!" →
    "Hi!", "Thanks, {first_name}." → "Thanks."). Values are inserted as they
    are, in one pass (a value that contains a placeholder is not filled in
    again), and the text is stripped.
    """
    empty = {key for key, value in values.items() if not value and "{" + key + "}" in template}
    skeleton = template
    if empty:
        marker = next(chr(code) for code in range(0xE000, 0xF900) if chr(code) not in template)
        skeleton = _PLACEHOLDER.sub(lambda found: marker if found.group(1) in empty else found.group(0), template)
        gap = re.escape(marker)
        skeleton = re.sub(f" *{gap}", marker, skeleton)
        skeleton = re.sub(f",(?={gap}[\\s{gap}]*(?:[!?.]|$))", "", skeleton)
        skeleton = skeleton.replace(marker, "")
    text = _PLACEHOLDER.sub(lambda found: values.get(found.group(1)) or found.group(0), skeleton)
    return text.strip()
