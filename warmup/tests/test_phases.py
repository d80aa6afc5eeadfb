"""The phase table from config/policies.yaml is the architecture page's; a bad one is refused with a clear message."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from warmup.phases import capability_of, warmup_policy, warmup_policy_parse

# docs/architecture.md, "Safety defaults and warm-up phases": days, phase, enabled, actions a day, active hours (local).
TABLE = [
    ((1, 2), "observation", {"sync", "dm_reply"}, (5, 10), (8, 10)),
    ((3, 4), "light", {"sync", "dm_reply", "comment_reply"}, (20, 30), (12, 14)),
    ((5, 6), "moderate", {"sync", "dm_reply", "comment_reply", "private_reply", "moderation"}, (40, 60), (8, 22)),
    ((7,), "full", {"all"}, (70, 100), (0, 24)),
]


@pytest.mark.parametrize(("days", "name", "enabled", "actions", "hours"), TABLE)
def test_the_policy_files_phases_are_the_architectures_table(days, name, enabled, actions, hours) -> None:
    policy = warmup_policy()
    for day in days:
        phase = policy.phase_of(day)
        assert phase.name == name
        assert phase.enabled == enabled
        assert (phase.min_actions, phase.max_actions) == actions
        assert (phase.start_hour, phase.end_hour) == hours


@pytest.mark.parametrize(
    ("action_type", "first_day"),
    [
        ("dm", 1),
        ("sender_action", 1),
        ("comment_reply", 3),
        ("private_reply", 5),
        ("hide_comment", 5),
        ("unhide_comment", 5),
        ("delete_comment", 5),
        ("publish", 7),
        ("first_comment", 7),
    ],
)
def test_each_action_type_is_enabled_from_its_day(action_type: str, first_day: int) -> None:
    policy = warmup_policy()
    capability = capability_of(action_type)
    assert [day for day in range(1, 8) if policy.phase_of(day).enables(capability)] == list(range(first_day, 8))


def _document(**changes: Any) -> dict[str, Any]:
    phase = {"name": "only", "days": [1, 2, 3, 4, 5, 6, 7], "enabled": ["all"], "actions_per_day": [1, 2]}
    phase.update(active_hours="full")
    phase.update(changes)
    return {"warmup": {"phases": [phase]}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"active_hours": [10, 8]}, "warmup.phases[0].active_hours"),
        ({"active_hours": "night"}, "warmup.phases[0].active_hours"),
        ({"actions_per_day": [5, 1]}, "warmup.phases[0].actions_per_day"),
        ({"enabled": ["likes"]}, "warmup.phases[0].enabled"),
        ({"days": [1, 2, 3]}, "cover days 1 to 7"),
    ],
)
def test_a_bad_phase_is_refused_naming_the_key(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[").replace("]", r"\]")):
        warmup_policy_parse(_document(**changes))


def test_a_valid_single_phase_parses() -> None:
    policy = warmup_policy_parse(_document())
    assert policy.phase_of(4).hours_label == "all day"
    assert policy.max_failures_per_day == 3
