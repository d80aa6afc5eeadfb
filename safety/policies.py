"""Safety policy: the defaults from config/policies.yaml, overrides, validation and Meta's hard ceilings.

A policy is a flat map of dotted keys (``per_account.max_actions_per_hour``)
to whole numbers. The file gives the defaults; a workspace and then an account
may override single keys (stored in ``safety.models.SafetyOverride``). Every
value, from the file or from an override, passes ``policy_value_validate``,
which refuses anything above Meta's documented limits: no setting can raise
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from actions.specs import action_spec_find
from instagram.client import CONVERSATIONS_API

# The per-type names the policy knows, (cooldown key, hourly/daily limit key): an action spec names its
# own (``ActionSpec.policy_key``: "dm" → ("dm", "dms")); stored overrides use them, so they stay.
# "media_containers" is not an action type's: its hourly and daily limits lower Meta's media container
# ceiling, which publishing steps consume (``MetaCeiling.policy_plural``); ``cooldowns.media_container``
# is accepted and has no effect.
TYPE_POLICY_KEYS: tuple[tuple[str, str], ...] = (
    ("comment_reply", "comment_replies"),
    ("private_reply", "private_replies"),
    ("dm", "dms"),
    ("media_container", "media_containers"),
)


def action_policy_key(action_type: str) -> tuple[str, str] | None:
    """How the policy names ``action_type`` (its spec's ``policy_key``), or None when it has no name there."""
    spec = action_spec_find(action_type)
    return spec.policy_key if spec is not None else None


# --- Meta's documented limits: hard ceilings ----------------------------------
# Messenger API for Instagram / Instagram API with Instagram Login, per Instagram
# professional account:
# https://developers.facebook.com/documentation/business-messaging/messenger-platform/overview/rate-limiting
# https://developers.facebook.com/docs/instagram-platform/instagram-api-with-instagram-login/messaging-api/
# The Send API allows 100 calls/s per account in the Instagram Login docs (the
# Messenger page now says 300/s); the lower figure is the ceiling.
META_SEND_API_PER_SECOND = 100
# Messages with audio or video: 10 calls/s per account (same pages).
META_SEND_API_AUDIO_VIDEO_PER_SECOND = 10
# Private replies to comments on posts and reels: 750 calls/hour per account (same pages).
META_PRIVATE_REPLIES_PER_HOUR = 750
# Conversations API: 2 calls/s per account (same pages).
META_CONVERSATIONS_API_PER_SECOND = 2
# Content publishing: 400 media containers per account in a 24-hour moving period.
# https://developers.facebook.com/docs/instagram-platform/content-publishing/
# (The publishing quota itself is read live from content_publishing_limit, later.)
META_MEDIA_CONTAINERS_PER_DAY = 400
# Messenger Profile API (ice breakers): "10 API calls per 10 minute interval", per Page
# (https://developers.facebook.com/docs/messenger-platform/reference/messenger-profile-api/greeting, "Rate Limit").
META_MESSENGER_PROFILE_PER_10_MINUTES = 10

AUDIO_VIDEO = frozenset({"audio", "video"})

# The keys of Meta's limits, as action specs name what they consume (``actions.specs.LimitUse``).
SEND_API = "send_api"  # DMs, private replies and sender actions are all sent with the Send API
SEND_API_AUDIO_VIDEO = "send_api_audio_video"
PRIVATE_REPLIES = "private_replies"
CONVERSATIONS = "conversations_api"
MESSENGER_PROFILE = "messenger_profile"
MEDIA_CONTAINERS = "media_containers"


@dataclass(frozen=True)
class MetaCeiling:
    """One of Meta's limits, enforced per account whatever the policy says.

    Counted on the ledger by the gate, over the actions whose spec consumes it
    (``ActionSpec.limits``), or, with ``per_call_api``, per Graph API call of
    that API (``instagram.client`` names it) by the account's client
    (``safety.graph``): the calls no action goes through (reads, reconciliations).
    """

    key: str
    name: str
    window: timedelta
    limit: int
    audio_video_only: bool = False
    per_call_api: str = ""
    # The policy's hourly and daily limits of this name may lower it (never raise it).
    policy_plural: str = ""

    def applies_to_payload(self, payload: dict[str, Any]) -> bool:
        return not self.audio_video_only or is_audio_video(payload)


def is_audio_video(payload: dict[str, Any]) -> bool:
    message = payload.get("message")
    attachment = message.get("attachment") if isinstance(message, dict) else None
    return isinstance(attachment, dict) and attachment.get("type") in AUDIO_VIDEO


SECOND = timedelta(seconds=1)
META_CEILINGS: tuple[MetaCeiling, ...] = (
    MetaCeiling(SEND_API, "Meta's Send API limit", SECOND, META_SEND_API_PER_SECOND),
    MetaCeiling(
        SEND_API_AUDIO_VIDEO,
        "Meta's Send API limit for audio and video",
        SECOND,
        META_SEND_API_AUDIO_VIDEO_PER_SECOND,
        audio_video_only=True,
    ),
    MetaCeiling(PRIVATE_REPLIES, "Meta's private replies limit", timedelta(hours=1), META_PRIVATE_REPLIES_PER_HOUR),
    MetaCeiling(
        CONVERSATIONS,
        "Meta's Conversations API limit",
        SECOND,
        META_CONVERSATIONS_API_PER_SECOND,
        per_call_api=CONVERSATIONS_API,
    ),
    MetaCeiling(
        MESSENGER_PROFILE,
        "Meta's Messenger Profile API limit",
        timedelta(minutes=10),
        META_MESSENGER_PROFILE_PER_10_MINUTES,
    ),
    # Counted in containers: a publishing step declares how many it will create and reports how many it did.
    MetaCeiling(
        MEDIA_CONTAINERS,
        "Meta's media container limit",
        timedelta(days=1),
        META_MEDIA_CONTAINERS_PER_DAY,
        policy_plural="media_containers",
    ),
)
META_CEILINGS_BY_KEY: dict[str, MetaCeiling] = {ceiling.key: ceiling for ceiling in META_CEILINGS}


# --- The keys of a policy -----------------------------------------------------
class Scope:
    GLOBAL = "global"
    WORKSPACE = "workspace"
    ACCOUNT = "account"


@dataclass(frozen=True)
class PolicyKey:
    key: str
    label: str
    # The narrowest scope that may override it: global keys only in the file,
    # workspace keys in the file or per workspace, account keys anywhere.
    narrowest: str
    ceiling: int | None = None
    ceiling_why: str = ""
    required: bool = False


def _type_keys(section: str, label: str, per: str) -> list[PolicyKey]:
    keys = []
    for singular, plural in TYPE_POLICY_KEYS:
        name = singular if section == "cooldowns" else plural
        ceiling, why = None, ""
        if section == "hourly_limits" and plural == "private_replies":
            ceiling, why = META_PRIVATE_REPLIES_PER_HOUR, "Meta allows 750 private replies per hour per account"
        elif section == "daily_limits" and plural == "private_replies":
            ceiling, why = META_PRIVATE_REPLIES_PER_HOUR * 24, "Meta allows 750 private replies per hour per account"
        elif plural == "media_containers" and section == "daily_limits":
            ceiling, why = META_MEDIA_CONTAINERS_PER_DAY, "Meta allows 400 media containers per 24 hours per account"
        elif section == "cooldowns":
            ceiling, why = 86_400, "a cooldown is at most one day"
        keys.append(
            PolicyKey(f"{section}.{name}", f"{label} {name.replace('_', ' ')} {per}", Scope.ACCOUNT, ceiling, why)
        )
    return keys


# The rest of the engine (cooldowns per person, backoff, patterns, risk, active hours).
# Missing or 0 turns a check off. Read with ``SafetyPolicy.setting``.
ENGINE_KEYS = [
    PolicyKey(
        "counterpart_cooldowns.conversation",
        "Cooldown (s) between automated DMs to one person",
        Scope.ACCOUNT,
        86_400,
        "a cooldown is at most one day",
    ),
    PolicyKey(
        "counterpart_cooldowns.commenter",
        "Cooldown (s) between automated replies to one commenter",
        Scope.ACCOUNT,
        86_400,
        "a cooldown is at most one day",
    ),
    PolicyKey(
        "backoff.base_seconds",
        "Backoff: first wait (s) after a failure, doubled per further failure",
        Scope.ACCOUNT,
        3600,
        "the first backoff step is at most one hour",
    ),
    PolicyKey(
        "backoff.max_seconds", "Backoff: longest wait (s)", Scope.ACCOUNT, 86_400, "a backoff is at most one day"
    ),
    PolicyKey("patterns.repeat_max", "Patterns: the same reply text at most this often per window", Scope.ACCOUNT),
    PolicyKey(
        "patterns.repeat_window_seconds",
        "Patterns: window (s) for repeated texts",
        Scope.ACCOUNT,
        86_400,
        "a window is at most one day",
    ),
    PolicyKey(
        "patterns.velocity_factor",
        "Patterns: a spike is this many times the account's own recent rate",
        Scope.ACCOUNT,
        100,
        "at most 100 times",
    ),
    PolicyKey(
        "patterns.velocity_window_seconds",
        "Patterns: window (s) for velocity spikes",
        Scope.ACCOUNT,
        3600,
        "a window is at most one hour",
    ),
    PolicyKey(
        "patterns.velocity_min_actions", "Patterns: no spike below this many actions in the window", Scope.ACCOUNT
    ),
    PolicyKey(
        "patterns.user_burst_max", "Patterns: replies to one person at most this often per window", Scope.ACCOUNT
    ),
    PolicyKey(
        "patterns.user_burst_window_seconds",
        "Patterns: window (s) for replies to one person",
        Scope.ACCOUNT,
        86_400,
        "a window is at most one day",
    ),
    PolicyKey(
        "risk.slow_from_score", "Risk: slow down from this score (0–100)", Scope.ACCOUNT, 100, "scores go up to 100"
    ),
    PolicyKey(
        "risk.slow_limit_percent",
        "Risk: limits while slowed down (% of normal)",
        Scope.ACCOUNT,
        100,
        "a slowdown cannot raise limits",
    ),
    PolicyKey(
        "risk.slow_spacing_seconds",
        "Risk: spacing (s) between actions while slowed down",
        Scope.ACCOUNT,
        3600,
        "at most one hour",
    ),
    PolicyKey(
        "risk.crawl_from_score", "Risk: crawl from this score (0–100)", Scope.ACCOUNT, 100, "scores go up to 100"
    ),
    PolicyKey(
        "risk.crawl_limit_percent",
        "Risk: limits while crawling (% of normal)",
        Scope.ACCOUNT,
        100,
        "a slowdown cannot raise limits",
    ),
    PolicyKey(
        "risk.crawl_spacing_seconds",
        "Risk: spacing (s) between actions while crawling",
        Scope.ACCOUNT,
        3600,
        "at most one hour",
    ),
    PolicyKey(
        "risk.suspend_after_rate_limits",
        "Risk: suspend after this many rate limits in the window (0: never)",
        Scope.ACCOUNT,
    ),
    PolicyKey(
        "risk.rate_limit_window_seconds",
        "Risk: window (s) for counting rate limits",
        Scope.ACCOUNT,
        86_400,
        "a window is at most one day",
    ),
    PolicyKey(
        "active_hours.start_hour",
        "Active hours: proactive actions from this hour (account's timezone)",
        Scope.ACCOUNT,
        23,
        "hours go from 0 to 23",
    ),
    PolicyKey(
        "active_hours.end_hour", "Active hours: until this hour (24: midnight)", Scope.ACCOUNT, 24, "hours go up to 24"
    ),
]
ENGINE_PREFIXES = tuple(sorted({entry.key.split(".", 1)[0] + "." for entry in ENGINE_KEYS}))

POLICY_KEYS: dict[str, PolicyKey] = {
    entry.key: entry
    for entry in [
        PolicyKey("global.max_actions_per_hour", "Platform: actions per hour", Scope.GLOBAL, required=True),
        PolicyKey("global.max_actions_per_day", "Platform: actions per day", Scope.GLOBAL, required=True),
        PolicyKey("per_workspace.max_actions_per_hour", "Workspace: actions per hour", Scope.WORKSPACE),
        PolicyKey("per_workspace.max_actions_per_day", "Workspace: actions per day", Scope.WORKSPACE),
        PolicyKey(
            "per_account.max_actions_per_hour",
            "Account: actions per hour",
            Scope.ACCOUNT,
            META_SEND_API_PER_SECOND * 3600,
            "Meta's Send API allows 100 calls per second per account",
            required=True,
        ),
        PolicyKey(
            "per_account.max_actions_per_day",
            "Account: actions per day",
            Scope.ACCOUNT,
            META_SEND_API_PER_SECOND * 86_400,
            "Meta's Send API allows 100 calls per second per account",
            required=True,
        ),
        PolicyKey("burst.per_account.max_actions", "Burst: actions per account in the burst window", Scope.ACCOUNT),
        PolicyKey(
            "burst.per_account.window_seconds",
            "Burst: window in seconds (0 turns burst protection off)",
            Scope.ACCOUNT,
            3600,
            "a burst window is at most one hour",
        ),
        *_type_keys("cooldowns", "Cooldown (s) between", "per account"),
        *ENGINE_KEYS,
        *_type_keys("hourly_limits", "Hourly cap on", "per account"),
        *_type_keys("daily_limits", "Daily cap on", "per account"),
    ]
}
SCOPE_ORDER = {Scope.GLOBAL: 0, Scope.WORKSPACE: 1, Scope.ACCOUNT: 2}


class PolicyValueError(ValueError):
    """A policy value that is refused; the message names the key and the limit."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def keys_overridable_at(scope: str) -> list[PolicyKey]:
    """The keys a workspace (or an account) may override, in display order."""
    return [entry for entry in POLICY_KEYS.values() if SCOPE_ORDER[entry.narrowest] >= SCOPE_ORDER[scope]]


def policy_value_validate(key: str, value: object, *, scope: str | None = None) -> int:
    """Return ``value`` as an int, or raise ``PolicyValueError`` naming the key and the limit it breaks."""
    entry = POLICY_KEYS.get(key)
    if entry is None:
        raise PolicyValueError(key, f"{key} is not a safety policy setting.")
    if scope is not None and SCOPE_ORDER[entry.narrowest] < SCOPE_ORDER[scope]:
        raise PolicyValueError(key, f"{key} cannot be set per {scope}; it is set for the whole platform.")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PolicyValueError(key, f"{key} must be a whole number ≥ 0, not {value!r}.")
    if entry.ceiling is not None and value > entry.ceiling:
        raise PolicyValueError(key, f"{key} cannot be above {entry.ceiling:,}: {entry.ceiling_why}.")
    return value


def policy_values_check(values: dict[str, int]) -> None:
    """Checks across keys: the burst may not go faster than Meta's Send API limit; active hours in order."""
    start, end = values.get("active_hours.start_hour"), values.get("active_hours.end_hour")
    if start is not None and end is not None and start >= end:
        raise PolicyValueError(
            "active_hours.end_hour",
            f"active_hours.end_hour ({end}) must be after active_hours.start_hour ({start}).",
        )
    window = values.get("burst.per_account.window_seconds", 0)
    burst = values.get("burst.per_account.max_actions", 0)
    if window and burst > window * META_SEND_API_PER_SECOND:
        raise PolicyValueError(
            "burst.per_account.max_actions",
            f"burst.per_account.max_actions cannot be above {window * META_SEND_API_PER_SECOND:,} "
            f"for a {window} s window: Meta's Send API allows 100 calls per second per account.",
        )


@dataclass(frozen=True)
class SafetyPolicy:
    global_per_hour: int
    global_per_day: int
    account_per_hour: int
    account_per_day: int
    cooldowns: dict[str, int]
    daily_limits: dict[str, int]
    workspace_per_hour: int | None = None
    workspace_per_day: int | None = None
    hourly_limits: dict[str, int] = field(default_factory=dict)
    burst_max: int = 0
    burst_window_seconds: int = 0  # 0: no burst protection
    # The engine's other keys (ENGINE_KEYS), flat: "patterns.repeat_max" → 10.
    engine: dict[str, int] = field(default_factory=dict)

    def setting(self, key: str, default: int = 0) -> int:
        """An engine setting (``ENGINE_KEYS``); ``default`` when the policy does not set it."""
        return int(self.engine.get(key, default))

    def cooldown_seconds(self, action_type: str) -> int:
        key = (action_policy_key(action_type) or (action_type, action_type))[0]
        return int(self.cooldowns.get(key, 0))

    def daily_limit(self, action_type: str) -> int | None:
        key = (action_policy_key(action_type) or (action_type, action_type))[1]
        value = self.daily_limits.get(key)
        return int(value) if value is not None else None

    def hourly_limit(self, action_type: str) -> int | None:
        key = (action_policy_key(action_type) or (action_type, action_type))[1]
        value = self.hourly_limits.get(key)
        return int(value) if value is not None else None

    def as_values(self) -> dict[str, int]:
        """The policy as flat keys (only the keys that have a value)."""
        values: dict[str, int | None] = {
            "global.max_actions_per_hour": self.global_per_hour,
            "global.max_actions_per_day": self.global_per_day,
            "per_workspace.max_actions_per_hour": self.workspace_per_hour,
            "per_workspace.max_actions_per_day": self.workspace_per_day,
            "per_account.max_actions_per_hour": self.account_per_hour,
            "per_account.max_actions_per_day": self.account_per_day,
            "burst.per_account.max_actions": self.burst_max if self.burst_window_seconds else None,
            "burst.per_account.window_seconds": self.burst_window_seconds,
        }
        values.update({f"cooldowns.{key}": value for key, value in self.cooldowns.items()})
        values.update({f"hourly_limits.{key}": value for key, value in self.hourly_limits.items()})
        values.update({f"daily_limits.{key}": value for key, value in self.daily_limits.items()})
        values.update(self.engine)
        return {key: value for key, value in values.items() if value is not None}


def policy_from_values(values: dict[str, int]) -> SafetyPolicy:
    def section(name: str) -> dict[str, int]:
        prefix = name + "."
        return {key[len(prefix) :]: value for key, value in values.items() if key.startswith(prefix)}

    return SafetyPolicy(
        global_per_hour=values["global.max_actions_per_hour"],
        global_per_day=values["global.max_actions_per_day"],
        account_per_hour=values["per_account.max_actions_per_hour"],
        account_per_day=values["per_account.max_actions_per_day"],
        cooldowns=section("cooldowns"),
        daily_limits=section("daily_limits"),
        workspace_per_hour=values.get("per_workspace.max_actions_per_hour"),
        workspace_per_day=values.get("per_workspace.max_actions_per_day"),
        hourly_limits=section("hourly_limits"),
        burst_max=values.get("burst.per_account.max_actions", 0),
        burst_window_seconds=values.get("burst.per_account.window_seconds", 0),
        engine={key: value for key, value in values.items() if key.startswith(ENGINE_PREFIXES)},
    )


def _flatten(document: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def policy_parse(document: dict[str, Any]) -> SafetyPolicy:
    """The ``safety`` section of a policies document, validated; errors name the ``safety.…`` key."""
    values: dict[str, int] = {}
    for key, value in _flatten(document.get("safety") or {}).items():
        try:
            values[key] = policy_value_validate(key, value)
        except PolicyValueError as exc:
            raise ImproperlyConfigured(f"safety.{exc} (in the policies file)") from exc
    for entry in POLICY_KEYS.values():
        if entry.required and entry.key not in values:
            raise ImproperlyConfigured(f"safety.{entry.key} is missing from the policies file.")
    try:
        policy_values_check(values)
    except PolicyValueError as exc:
        raise ImproperlyConfigured(f"safety.{exc} (in the policies file)") from exc
    return policy_from_values(values)


@lru_cache(maxsize=2)
def _load(path: str) -> SafetyPolicy:
    document = yaml.safe_load(Path(path).read_text())
    if not isinstance(document, dict):
        raise ImproperlyConfigured(f"{path} does not hold a policy document.")
    return policy_parse(document)


def default_policy() -> SafetyPolicy:
    return _load(str(settings.POLICIES_FILE))


def policy_with_overrides(base: SafetyPolicy, *overrides: dict[str, int]) -> SafetyPolicy:
    """``base`` with the overrides applied in order (workspace, then account)."""
    if not any(overrides):
        return base
    values = base.as_values()
    for override in overrides:
        values.update({key: int(value) for key, value in override.items() if key in POLICY_KEYS})
    return policy_from_values(values)


def plural_label(action_type: str) -> str:
    """ "comment_reply" → "comment replies", for messages."""
    return (action_policy_key(action_type) or (action_type, action_type + "s"))[1].replace("_", " ")
