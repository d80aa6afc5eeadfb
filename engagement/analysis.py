"""Sentiment (VADER) and language (Lingua) of a comment's text: well-kept libraries, no word lists of ours.

Both ship their data inside their PyPI packages; nothing is downloaded at run time.
"""

from __future__ import annotations

from functools import lru_cache

from lingua import LanguageDetector, LanguageDetectorBuilder
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _detector() -> LanguageDetector:
    # Low-accuracy mode uses Lingua's trigram models only: ~100 MB for all 75 languages instead of ~1 GB,
    # still reliable on sentences; its models load lazily, per language, the first time they are needed.
    return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()


def sentiment_of(text: str) -> float:
    """VADER's compound score, from -1 (most negative) to 1 (most positive); 0 for an empty text."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def language_of(text: str) -> str:
    """The ISO 639-1 code of the text's language (``"en"``, ``"pt"``…), or ``""`` when unsure or too short."""
    if sum(char.isalpha() for char in text) < 3:
        return ""
    language = _detector().detect_language_of(text)
    return language.iso_code_639_1.name.lower() if language is not None else ""
