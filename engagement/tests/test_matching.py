from __future__ import annotations

import pytest

from engagement.matching import any_keyword_matches, is_emoji_only, keyword_matches, regex_compile, trigger_match


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


@pytest.mark.parametrize(
    ("trigger_type", "keywords", "text", "expected"),
    [
        # any keyword: accents, casing, emoji
        ("any", "preço, price", "Qual o PRECO?", "preço"),
        ("any", "preço, price", "PRICE please", "price"),
        ("any", "café", "Um CAFÉ, por favor", "café"),
        ("any", "🥐, croissant", "one 🥐 please", "🥐"),
        ("any", "price", "priceless", None),
        # all keywords
        ("all", "price, delivery", "What is the price with DELIVERY?", "price, delivery"),
        ("all", "price, delivery", "What is the price?", None),
        ("all", "", "anything", None),
        # exact phrase: word for word, case and accents ignored, spacing tolerant
        ("phrase", "how much", "Hey, HOW   MUCH is it?", "how much"),
        ("phrase", "quanto custa", "Quanto CUSTA?", "quanto custa"),
        ("phrase", "how much", "much how", None),
        ("phrase", "how much", "how muchness", None),
        # regex: case-insensitive, against the accent-free text
        ("regex", r"pre[cç]o\s*\?", "qual o PREÇO?", "preco?"),
        ("regex", r"^\d{3}$", "123", "123"),
        ("regex", r"^\d{3}$", "1234", None),
        ("regex", r"(unclosed", "anything (unclosed", None),  # invalid: never matches (refused on save)
        # emoji only
        ("emoji_only", "", "😍🔥", "😍🔥"),
        ("emoji_only", "", "  ❤️ 👍🏽 ", "❤️ 👍🏽"),
        ("emoji_only", "", "🇧🇷", "🇧🇷"),
        ("emoji_only", "", "👨‍👩‍👧", "👨‍👩‍👧"),
        ("emoji_only", "", "love 😍", None),
        ("emoji_only", "", "", None),
        ("emoji_only", "", "!!!", None),
    ],
)
def test_trigger_table(trigger_type: str, keywords: str, text: str, expected: str | None) -> None:
    assert trigger_match(trigger_type=trigger_type, keywords=keywords, text=text) == expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(unclosed", "This is not a valid regular expression (RE2 syntax): missing ): (unclosed."),
        ("[a-", "This is not a valid regular expression (RE2 syntax): missing ]: [a-."),
        ("*price", "This is not a valid regular expression (RE2 syntax): no argument for repetition operator: *."),
        ("   ", "Enter a regular expression."),
        ("a" * 501, "A regular expression is at most 500 characters."),
    ],
)
def test_a_bad_regex_is_refused_with_a_readable_message(pattern: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        regex_compile(pattern)
    assert str(error.value) == message


def test_the_emoji_only_check_needs_a_real_emoji() -> None:
    assert not is_emoji_only("\u200d\ufe0f")
    assert is_emoji_only("✨")
