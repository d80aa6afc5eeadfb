"""The shared text helpers: folding, a person's placeholders and the one template renderer."""

from __future__ import annotations

import pytest

from instaforge.text import accents_strip, person_values, template_render, text_fold


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Preço", "preco"),
        ("PREÇO", "preco"),
        ("straße", "strasse"),  # casefold, not lower
        ("ﬁm", "fim"),  # NFKD: the ligature becomes letters
        ("Olá, ÇA VA?", "ola, ca va?"),
    ],
)
def test_text_fold_ignores_case_and_accents(text: str, folded: str) -> None:
    assert text_fold(text) == folded


def test_accents_strip_keeps_the_case_so_a_pattern_keeps_its_meaning() -> None:
    assert accents_strip(r"Preço\D+\W") == r"Preco\D+\W"


@pytest.mark.parametrize(
    ("username", "name", "values"),
    [
        ("ana", "Ana Maria Silva", {"username": "@ana", "name": "Ana Maria Silva", "first_name": "Ana"}),
        ("ana", "", {"username": "@ana", "name": "ana", "first_name": ""}),  # the name falls back to the username
        ("", "Ana", {"username": "", "name": "Ana", "first_name": "Ana"}),
        ("", "  ", {"username": "", "name": "  ", "first_name": ""}),
        ("", "", {"username": "", "name": "", "first_name": ""}),
    ],
)
def test_person_values(username: str, name: str, values: dict[str, str]) -> None:
    assert person_values(username=username, name=name) == values


KNOWN = {"username": "@ana", "keyword": "preço", "name": "Ana Maria", "first_name": "Ana"}
UNKNOWN = {"username": "", "keyword": "", "name": "", "first_name": ""}


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("A {username} {keyword}", KNOWN, "A @ana preço"),
        ("B {username}, {first_name}!", KNOWN, "B @ana, Ana!"),
        ("Hi {name}!", KNOWN, "Hi Ana Maria!"),
        # A value not known leaves no gap, no space before punctuation, no dangling comma.
        ("B {username}, {first_name}!", {**KNOWN, "first_name": ""}, "B @ana!"),
        ("Hi {username}! Pickup or delivery?", UNKNOWN, "Hi! Pickup or delivery?"),
        ("Thanks {name}, see you", UNKNOWN, "Thanks, see you"),
        ("{username} hello", UNKNOWN, "hello"),
        ("Thanks, {first_name}.", UNKNOWN, "Thanks."),
        ("Thanks, {first_name}", UNKNOWN, "Thanks"),
        ("Thanks, {first_name} {username}!", UNKNOWN, "Thanks!"),
        ("{first_name}, welcome!", UNKNOWN, ", welcome!"),
        ("Hi {first_name}\nSee you", UNKNOWN, "Hi\nSee you"),
        # Anything else in braces stays as written.
        ("Your code: {code}", KNOWN, "Your code: {code}"),
        ("{ username } {{keyword}} {}", KNOWN, "{ username } {preço} {}"),
        # Values go in as they are, once: a value holding a placeholder is not filled in again.
        ("You said: {answer}", {"answer": "{name}  ,?", "name": "Ana"}, "You said: {name}  ,?"),
        ("{keyword}", {"keyword": " spaced out "}, "spaced out"),  # the whole text is stripped
        # Text a member wrote without a placeholder is kept as written.
        ("Hello  there ,ok,!", UNKNOWN, "Hello  there ,ok,!"),
        ("Private-use \ue000 {name}!", UNKNOWN, "Private-use \ue000!"),
    ],
)
def test_template_render(template: str, values: dict[str, str], expected: str) -> None:
    assert template_render(template, values=values) == expected
