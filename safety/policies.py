"""Safety policy: the defaults from config/policies.yaml, read once per process."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# How each action type is named in the policy's cooldowns and daily_limits.
ACTION_POLICY_KEYS: dict[str, tuple[str, str]] = {
    "comment_reply": ("comment_reply", "comment_replies"),
    "private_reply": ("private_reply", "private_replies"),
    "dm": ("dm", "dms"),
}


def plural_label(action_type: str) -> str:
    """ "comment_reply" → "comment replies", for messages."""
    return ACTION_POLICY_KEYS.get(action_type, (action_type, action_type + "s"))[1].replace("_", " ")


@dataclass(frozen=True)
class SafetyPolicy:
    global_per_hour: int
    global_per_day: int
    account_per_hour: int
    account_per_day: int
    cooldowns: dict[str, int]
    daily_limits: dict[str, int]

    def cooldown_seconds(self, action_type: str) -> int:
        key = ACTION_POLICY_KEYS.get(action_type, (action_type, action_type))[0]
        return int(self.cooldowns.get(key, 0))

    def daily_limit(self, action_type: str) -> int | None:
        key = ACTION_POLICY_KEYS.get(action_type, (action_type, action_type))[1]
        value = self.daily_limits.get(key)
        return int(value) if value is not None else None


def _positive_int(section: dict[str, Any], key: str, where: str) -> int:
    value = section.get(key)
    if not isinstance(value, int) or value < 0:
        raise ImproperlyConfigured(f"{where}.{key} in the policies file must be a whole number ≥ 0, not {value!r}.")
    return value


def policy_parse(document: dict[str, Any]) -> SafetyPolicy:
    safety = document.get("safety") or {}
    global_limits = safety.get("global") or {}
    account_limits = safety.get("per_account") or {}
    cooldowns = safety.get("cooldowns") or {}
    daily = safety.get("daily_limits") or {}
    return SafetyPolicy(
        global_per_hour=_positive_int(global_limits, "max_actions_per_hour", "safety.global"),
        global_per_day=_positive_int(global_limits, "max_actions_per_day", "safety.global"),
        account_per_hour=_positive_int(account_limits, "max_actions_per_hour", "safety.per_account"),
        account_per_day=_positive_int(account_limits, "max_actions_per_day", "safety.per_account"),
        cooldowns={key: _positive_int(cooldowns, key, "safety.cooldowns") for key in cooldowns},
        daily_limits={key: _positive_int(daily, key, "safety.daily_limits") for key in daily},
    )


@lru_cache(maxsize=2)
def _load(path: str) -> SafetyPolicy:
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"{path} does not hold a policy document.")
    return policy_parse(document)


def default_policy() -> SafetyPolicy:
    return _load(str(settings.POLICIES_FILE))
