"""Sentiment (VADER) and language (langdetect) of a comment's text: well-kept libraries, no word lists of ours."""

from __future__ import annotations

from functools import lru_cache

from langdetect import DetectorFactory, LangDetectException, detect
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# langdetect is randomised; a fixed seed makes the same text give the same language every time.
DetectorFactory.seed = 0


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment_of(text: str) -> float:
    """VADER's compound score, from -1 (most negative) to 1 (most positive); 0 for an empty text."""
    if not text.strip():
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def language_of(text: str) -> str:
    """The ISO 639-1 code langdetect finds (``"en"``, ``"pt"``; Chinese as ``"zh-cn"``…), or ``""`` when unsure."""
    letters = sum(char.isalpha() for char in text)
    if letters < 3:
        return ""
    try:
        return str(detect(text))
    except LangDetectException:
        return ""
