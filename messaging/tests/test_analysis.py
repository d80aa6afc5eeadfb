"""Intent rules (a table: casing, accents, languages, order between intents) and VADER sentiment."""

from __future__ import annotations

import pytest

from instaforge.text import sentiment_score
from messaging.analysis import intent_classify_rules


@pytest.mark.parametrize(
    ("text", "intent", "confidence"),
    [
        ("Hi there!", "greeting", 0.9),
        ("OLÁ", "greeting", 0.9),  # accents and casing ignored
        ("Bom dia", "greeting", 0.9),
        ("How much is the croissant?", "pricing", 0.9),
        ("Quanto custa?", "pricing", 0.9),
        ("Qual o PREÇO?", "pricing", 0.9),  # "preço" matches "preco"
        ("Is it 5 $?", "pricing", 0.9),
        ("hello, what's the price?", "pricing", 0.9),  # a greeting does not make it ambiguous
        ("My order never arrived", "support", 0.9),
        ("I need help with my account", "support", 0.9),
        ("This is unacceptable, I want a refund", "complaint", 0.9),
        ("Get free followers now", "spam", 0.9),
        ("The price is a scam", "complaint", 0.6),  # two strong intents: less sure
        ("When do you open?", "question", 0.9),
        ("open sunday?", "question", 0.5),  # only a question mark
        ("ok", "other", 0.2),
        ("", "other", 0.2),
        ("pricey shoes", "other", 0.2),  # whole words only: "pricey" is not "price"
    ],
)
def test_intent_rules(text: str, intent: str, confidence: float) -> None:
    result = intent_classify_rules(text=text)
    assert (result.intent, result.confidence, result.classified_by) == (intent, confidence, "rules")


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        ("I love it, thank you so much!", 1),
        ("This is terrible, I hate it", -1),
        ("The shop opens at 8", 0),
        ("", 0),
    ],
)
def test_sentiment_is_vaders_compound_score(text: str, sign: int) -> None:
    score = sentiment_score(text=text)
    assert -1 <= score <= 1
    if sign > 0:
        assert score > 0.5
    elif sign < 0:
        assert score < -0.5
    else:
        assert score == 0
