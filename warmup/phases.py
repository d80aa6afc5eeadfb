"""The warm-up phases from ``config/policies.yaml``, validated.

The table is docs/architecture.md's ("Safety defaults and warm-up phases").

A phase names the days it covers, the capabilities it enables, the range each
day's action target is drawn from and its active hours in the account's own
time zone. ``[8, 10]`` means from 08:00 to 10:00 local time (the end is
excluded), ``waking`` means ``warmup.waking_hours`` (08:00–22:00 by default)
and ``full`` means the whole day.

Each action type's spec names the capability of the phase table it needs
(``actions.specs.ActionSpec.capability``):

====================================== ===============
action type                            capability
====================================== ===============
comment_reply                          comment_reply
dm, sender_action (typing, seen)       dm_reply
private_reply                          private_reply
hide/unhide/delete_comment             moderation
publish, first_comment, anything else  only with ``all`` (day 7)
====================================== ===============
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from actions.specs import ActionTypesWhere, action_spec_find

WARMUP_DAYS = 7
ALL = "all"
CAPABILITIES = frozenset({"sync", "dm_reply", "comment_reply", "private_reply", "moderation", ALL})

# How each capability is named in messages to members.
CAPABILITY_LABELS: dict[str, str] = {
    "dm_reply": "DM replies",
    "comment_reply": "comment replies",
    "private_reply": "comment-to-DM replies",
    "moderation": "moderation (hide, unhide, delete comments)",
    ALL: "publishing and every other action",
}
# Action types that accompany another action and do not use the day's budget (a typing indicator).
NOT_COUNTED: ActionTypesWhere = ActionTypesWhere(lambda spec: not spec.warmup_budget)


def capability_of(action_type: str) -> str:
    """The phase capability an action type needs (its spec's); publishing and unknown types need ``all``."""
    spec = action_spec_find(action_type)
    return spec.capability if spec is not None else ALL


@dataclass(frozen=True)
class Phase:
    name: str
    days: tuple[int, ...]
    enabled: frozenset[str]
    min_actions: int
    max_actions: int
    start_hour: int  # local, included
    end_hour: int  # local, excluded (24 = midnight)

    def enables(self, capability: str) -> bool:
        return ALL in self.enabled or capability in self.enabled

    @property
    def is_full_day(self) -> bool:
        return self.start_hour == 0 and self.end_hour == 24

    @property
    def hours_label(self) -> str:
        if self.is_full_day:
            return "all day"
        return f"{self.start_hour:02d}:00–{self.end_hour % 24:02d}:00"


@dataclass(frozen=True)
class WarmupPolicy:
    phases: tuple[Phase, ...]
    max_failures_per_day: int

    def phase_of(self, day: int) -> Phase:
        for phase in self.phases:
            if day in phase.days:
                return phase
        raise KeyError(day)

    def first_day_enabling(self, capability: str, *, after: int) -> int | None:
        """The first warm-up day after ``after`` whose phase enables ``capability``."""
        for day in range(after + 1, WARMUP_DAYS + 1):
            if self.phase_of(day).enables(capability):
                return day
        return None


def _hours(value: Any, *, waking: tuple[int, int], where: str) -> tuple[int, int]:
    if value == "full":
        return 0, 24
    if value == "waking":
        return waking
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(hour, int) and not isinstance(hour, bool) for hour in value)
        and 0 <= value[0] < value[1] <= 24
    ):
        return value[0], value[1]
    raise ImproperlyConfigured(
        f"{where}: active hours must be [start, end] with 0 ≤ start < end ≤ 24, 'waking' or 'full', not {value!r}."
    )


def warmup_policy_parse(document: dict[str, Any]) -> WarmupPolicy:
    """The ``warmup`` section of a policies document; every error names the key."""
    section = document.get("warmup")
    if not isinstance(section, dict) or not isinstance(section.get("phases"), list):
        raise ImproperlyConfigured("warmup.phases is missing from the policies file.")
    waking = _hours(section.get("waking_hours", [8, 22]), waking=(8, 22), where="warmup.waking_hours")
    phases = []
    for index, raw in enumerate(section["phases"]):
        where = f"warmup.phases[{index}]"
        if not isinstance(raw, dict):
            raise ImproperlyConfigured(f"{where} must be a mapping.")
        days, enabled, actions = raw.get("days"), raw.get("enabled"), raw.get("actions_per_day")
        if not isinstance(days, list) or not days or not all(isinstance(day, int) for day in days):
            raise ImproperlyConfigured(f"{where}.days must list day numbers.")
        if not isinstance(enabled, list) or not set(enabled) <= CAPABILITIES:
            raise ImproperlyConfigured(f"{where}.enabled must list some of {sorted(CAPABILITIES)}.")
        if (
            not isinstance(actions, list)
            or len(actions) != 2
            or not all(isinstance(count, int) and count >= 0 for count in actions)
            or actions[0] > actions[1]
        ):
            raise ImproperlyConfigured(f"{where}.actions_per_day must be [min, max] with 0 ≤ min ≤ max.")
        start, end = _hours(raw.get("active_hours"), waking=waking, where=f"{where}.active_hours")
        phases.append(
            Phase(
                name=str(raw.get("name", f"phase {index + 1}")),
                days=tuple(days),
                enabled=frozenset(enabled),
                min_actions=actions[0],
                max_actions=actions[1],
                start_hour=start,
                end_hour=end,
            )
        )
    covered = sorted(day for phase in phases for day in phase.days)
    if covered != list(range(1, WARMUP_DAYS + 1)):
        raise ImproperlyConfigured(f"warmup.phases must cover days 1 to {WARMUP_DAYS} once each, not {covered}.")
    health = section.get("health") or {}
    failures = health.get("max_failures_per_day", 3) if isinstance(health, dict) else None
    if not isinstance(failures, int) or failures < 1:
        raise ImproperlyConfigured("warmup.health.max_failures_per_day must be a whole number ≥ 1.")
    return WarmupPolicy(tuple(phases), failures)


@lru_cache(maxsize=2)
def _load(path: str) -> WarmupPolicy:
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"{path} does not hold a policy document.")
    return warmup_policy_parse(document)


def warmup_policy() -> WarmupPolicy:
    return _load(str(settings.POLICIES_FILE))
