"""The Safety page reads in plain words: topics collapsed, every setting named, sourced and explained, no keys."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, Membership, Role
from safety.guide import WORDS, duration_text, plain_message, settings_guide_check, value_text
from safety.models import SafetyOverride
from safety.policies import META_CEILINGS, POLICY_KEYS


class _Page(HTMLParser):
    """The page's visible text (attributes left out), each setting row's cells, and its <details> sections."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.settings: list[dict[str, str]] = []
        self.details: list[dict[str, str | None]] = []
        self._field: str | None = None
        self._depth = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        # The page's topics, not the site's menus (the user menu is a <details> too).
        if tag == "details" and (found.get("data-testid") or "").startswith("topic-"):
            self.details.append(found)
        testid = found.get("data-testid") or ""
        if testid == "setting":
            self.settings.append({})
        elif testid in ("setting-label", "setting-why", "setting-value", "setting-source") and self.settings:
            self._field, self._depth = testid, 0
        if self._field is not None:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        if self._field is not None:
            self._depth -= 1
            if self._depth == 0:
                self._field = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._field is not None:
            row = self.settings[-1]
            row[self._field] = (row.get(self._field, "") + data).strip()


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def setup(owner, make_workspace, make_account):
    workspace = make_workspace("Shop", owner=owner)
    return workspace, make_account(workspace, state=AccountState.WARMUP_DAY_2)


def test_every_policy_setting_and_meta_limit_has_plain_words() -> None:
    assert settings_guide_check() == []


@pytest.mark.parametrize("page_name", ["workspace", "account"])
def test_no_internal_key_is_shown_and_every_setting_has_a_label_a_source_and_a_why(
    client: Client, owner, setup, page_name
) -> None:
    workspace, account = setup
    SafetyOverride.all_workspaces.create(workspace=workspace, values={"cooldowns.dm": 300})
    client.force_login(owner)
    url = reverse("workspace_safety") if page_name == "workspace" else reverse("account_safety", args=[account.pk])
    page = _parse(client.get(url).content.decode())
    text = " ".join(page.text)
    shown_keys = [key for key in POLICY_KEYS if key in text]
    assert shown_keys == []
    # Every setting of the policy, every Meta ceiling, plus the timing facts: each with its four cells filled.
    assert len(page.settings) >= len(POLICY_KEYS) + len(META_CEILINGS)
    for row in page.settings:
        assert row.get("setting-label") and row.get("setting-source") and row.get("setting-why"), row
        assert row.get("setting-value"), row
        assert "_" not in row["setting-label"], row
    labels = {row["setting-label"] for row in page.settings}
    assert {words.label for words in WORDS.values()} <= labels


def test_topics_are_collapsed_sections_with_plain_sources(client: Client, owner, setup) -> None:
    workspace, account = setup
    SafetyOverride.all_workspaces.create(workspace=workspace, values={"cooldowns.dm": 300})
    SafetyOverride.all_workspaces.create(workspace=workspace, account=account, values={"hourly_limits.dms": 7})
    client.force_login(owner)
    html = client.get(reverse("account_safety", args=[account.pk])).content.decode()
    page = _parse(html)
    slugs = [section.get("data-testid") for section in page.details]
    assert slugs == [
        "topic-comments",
        "topic-dms",
        "topic-publishing",
        "topic-pacing",
        "topic-hours",
        "topic-patterns",
        "topic-risk",
        "topic-meta",
    ]
    assert all("open" not in section for section in page.details)
    by_label = {row["setting-label"]: row for row in page.settings}
    assert by_label["Pause between two direct messages"]["setting-value"] == "5 min"
    assert by_label["Pause between two direct messages"]["setting-source"] == "Workspace override"
    assert by_label["Direct messages per hour"]["setting-source"] == "Account override"
    assert by_label["Public replies per day"]["setting-source"] == "Platform default"
    assert by_label["Private replies to comments"]["setting-value"] == "750 per hour"
    assert by_label["Private replies to comments"]["setting-source"] == "Meta"
    # Warm-up day 2: the phase's budget and hours, and the day budget shown as coming from the warm-up.
    warmup = [row for row in page.settings if row["setting-source"] == "Warm-up"]
    assert any("day 2, observation phase" in row["setting-label"] for row in warmup)
    assert by_label["Everything the account does, per day"]["setting-source"] == "Warm-up"
    assert "08:00–10:00" in html


def test_a_refused_value_opens_its_topic_and_names_the_setting_in_words(client: Client, owner, setup) -> None:
    _, account = setup
    client.force_login(owner)
    response = client.post(
        reverse("account_safety", args=[account.pk]), {"form": "limits", "hourly_limits.private_replies": "751"}
    )
    page = _parse(response.content.decode())
    opened = [section.get("data-testid") for section in page.details if "open" in section]
    assert opened == ["topic-comments"]
    text = " ".join(page.text)
    assert "“Private replies to commenters per hour” cannot be above 750" in text
    assert "hourly_limits" not in text


def test_a_member_sees_the_settings_without_fields(client: Client, make_user, setup) -> None:
    workspace, account = setup
    member = make_user("member@example.com")
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    html = client.get(reverse("account_safety", args=[account.pk])).content.decode()
    assert 'name="cooldowns.dm"' not in html and "Owners and admins of the workspace can change" in html
    assert len(_parse(html).settings) >= len(POLICY_KEYS)


def test_changes_are_listed_by_their_plain_names(client: Client, owner, setup) -> None:
    _, account = setup
    client.force_login(owner)
    url = reverse("account_safety", args=[account.pk])
    assert client.post(url, {"form": "limits", "cooldowns.dm": "90"}).status_code == 302
    text = " ".join("".join(_parse(client.get(url).content.decode()).text).split())
    assert "Pause between two direct messages: inherited → 90" in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("cooldowns.dm", 120, "2 min"),
        ("cooldowns.dm", 45, "45 s"),
        ("cooldowns.dm", 0, "none"),
        ("backoff.max_seconds", 3600, "1 h"),
        ("patterns.repeat_window_seconds", 86_400, "1 day"),
        ("active_hours.start_hour", 8, "08:00"),
        ("risk.slow_limit_percent", 50, "50 %"),
        ("risk.slow_from_score", 25, "25/100"),
        ("patterns.velocity_factor", 4, "4×"),
        ("burst.per_account.window_seconds", 0, "off"),
        ("per_account.max_actions_per_day", 5000, "5,000"),
        ("per_workspace.max_actions_per_day", None, "no limit"),
    ],
)
def test_values_read_with_their_unit(key, value, expected) -> None:
    assert value_text(key, value) == expected


def test_durations_and_messages_in_words() -> None:
    assert duration_text(5400) == "1 h 30 min"
    assert (
        plain_message("cooldowns.dm cannot be above 86,400")
        == "“Pause between two direct messages” cannot be above 86,400"
    )
