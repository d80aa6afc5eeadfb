from __future__ import annotations

import pytest

from engagement.matching import any_keyword_matches, keyword_matches


@pytest.mark.parametrize(
    ("keyword", "text", "expected"),
    [
        ("price", "What's the PRICE?", True),
        ("preço", "qual o preco?", True),
        ("preco", "Qual o PREÇO?", True),
        ("café", "CAFE please", True),
        ("how much", "hey how  much is it", False),  # phrases match word for word
        ("how much", "hey, how much is it?", True),
        ("price", "priceless", False),  # whole words only
        ("price", "", False),
        ("", "anything", False),
        ("🥐", "I want a 🥐 now", True),
        ("straße", "STRASSE", True),  # casefold
    ],
)
def test_keyword_matching_ignores_case_and_accents(keyword: str, text: str, expected: bool) -> None:
    assert keyword_matches(keyword=keyword, text=text) is expected


def test_any_keyword_returns_the_first_match() -> None:
    assert any_keyword_matches(keywords=["cost", "price"], text="price and cost") == "cost"
    assert any_keyword_matches(keywords=["nope"], text="price") is None
