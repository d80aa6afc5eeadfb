"""No page shows a raw code: no UPPER_SNAKE lifecycle state ("WARMUP_DAY_2") and no Python tuple ("('a', 'b')").

Every page of the web app is rendered with the fuzz's realistic workspace (tests/test_form_fuzz.py), the
account on warm-up day 2, and its visible text (not attributes, scripts, code samples or form values) is read.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from accounts.models import AccountState, InstagramAccount
from tests.test_form_fuzz import LAST_NAMES, World, fill, routes, world  # noqa: F401 (world is a fixture)

UPPER_SNAKE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
TUPLE_TEXT = re.compile(r"\(\s*'[^']*'\s*,")
# Routes that answer files or redirects only, or end the session.
NOT_PAGES = ("publishing_media", "publishing_media_signed", "deletion_status_json", *LAST_NAMES)


class _VisibleText(HTMLParser):
    SKIPPED = frozenset({"script", "style", "code", "pre", "textarea", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIPPED:
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIPPED and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def copy_problems(text: str) -> list[str]:
    return [f"code {code}" for code in UPPER_SNAKE.findall(text)] + [
        f"tuple {match}" for match in TUPLE_TEXT.findall(text)
    ]


def test_the_rule_finds_codes_and_tuples() -> None:
    assert copy_problems("State: WARMUP_DAY_2") == ["code WARMUP_DAY_2"]
    assert copy_problems("Enabled: ('sync', 'dm_reply')") == ["tuple ('sync',"]
    assert copy_problems("Warm-up day 2 · sync, DM replies · API") == []


@pytest.mark.parametrize(
    ("state", "resume_state"),
    [(AccountState.WARMUP_DAY_2, ""), (AccountState.PAUSED, AccountState.WARMUP_DAY_2)],
    ids=["warming-up", "paused-during-warm-up"],
)
def test_no_page_shows_a_raw_code_or_tuple(world: World, state: str, resume_state: str) -> None:  # noqa: F811
    InstagramAccount.all_workspaces.filter(pk=world.real["account_id"]).update(state=state, resume_state=resume_state)
    client = Client()
    client.force_login(world.owner)
    problems: dict[str, list[str]] = {}
    rendered = 0
    for route in routes():
        if route.name in NOT_PAGES or "delete" in route.name or "logout" in route.name:
            continue
        path = fill(route, world.real)
        response: Any = client.get(path)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        rendered += 1
        if found := copy_problems(visible_text(response.content.decode())):
            problems[path] = sorted(set(found))
    assert rendered >= 30
    assert problems == {}
