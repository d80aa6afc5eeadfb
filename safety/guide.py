"""The Safety page's words: every policy setting grouped by topic, named in plain words, with why it exists.

The policy itself (``safety.policies``) names its settings by dotted keys, which
are what overrides store and what the policies file holds; members should never
have to decode them. This module is the one place that says, for each key,
which topic it belongs to, what it is called on the page, how its value reads
("2 min", "08:00", "off") and what it protects the account against.
``settings_guide_check`` keeps it complete: a key added to the policy without
words here fails the safety tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from safety.policies import META_CEILINGS, POLICY_KEYS, MetaCeiling

SECONDS = "seconds"
COUNT = "count"
PERCENT = "percent"
HOUR = "hour"
FACTOR = "factor"
SCORE = "score"


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    summary: str


TOPICS: tuple[Topic, ...] = (
    Topic(
        "comments",
        "Replies to comments",
        "How often the account answers comments in public, and by private message to the commenter.",
    ),
    Topic("dms", "Direct messages", "How often the account sends automated direct messages."),
    Topic("publishing", "Publishing", "How many posts, reels and stories the account may prepare for Instagram."),
    Topic(
        "pacing",
        "Pacing and human timing",
        "The overall speed of the account, its workspace and the platform, and how it waits after a failure.",
    ),
    Topic("hours", "Hours", "When the account acts on its own initiative, in its own time zone."),
    Topic("patterns", "Patterns", "Repetitions and spikes that look like a bot, caught before Instagram notices."),
    Topic(
        "risk",
        "Risk and automatic slow-down",
        "How the account slows itself down, or stops for review, when Instagram pushes back.",
    ),
    Topic("meta", "Meta's own limits", "Hard ceilings from Meta's documentation: no setting can go above them."),
)
TOPICS_BY_SLUG = {topic.slug: topic for topic in TOPICS}


@dataclass(frozen=True)
class SettingWords:
    topic: str
    label: str
    unit: str
    why: str
    zero: str = ""  # how 0 reads when it turns the check off ("off"), or "" when 0 is a plain number


_COOLDOWN_WHY = "Answers fired back-to-back are the clearest sign of a bot; a pause between two looks like a person."
_HOURLY_WHY = "Spreads the day's answers over the hours instead of spending them all at once."
_DAILY_WHY = "Keeps the day's volume in the range of a busy person, well below what Instagram flags."

WORDS: dict[str, SettingWords] = {
    # Replies to comments (public replies, and private replies: a DM that answers a comment).
    "cooldowns.comment_reply": SettingWords(
        "comments", "Pause between two public replies", SECONDS, _COOLDOWN_WHY, "none"
    ),
    "hourly_limits.comment_replies": SettingWords("comments", "Public replies per hour", COUNT, _HOURLY_WHY),
    "daily_limits.comment_replies": SettingWords("comments", "Public replies per day", COUNT, _DAILY_WHY),
    "cooldowns.private_reply": SettingWords(
        "comments", "Pause between two private replies to commenters", SECONDS, _COOLDOWN_WHY, "none"
    ),
    "hourly_limits.private_replies": SettingWords(
        "comments",
        "Private replies to commenters per hour",
        COUNT,
        _HOURLY_WHY + " Meta itself allows at most 750 an hour.",
    ),
    "daily_limits.private_replies": SettingWords(
        "comments", "Private replies to commenters per day", COUNT, _DAILY_WHY
    ),
    "counterpart_cooldowns.commenter": SettingWords(
        "comments",
        "Pause before answering the same commenter again",
        SECONDS,
        "Someone who comments five times should not get five instant answers: it reads as spam to them and Instagram.",
        "none",
    ),
    # Direct messages.
    "cooldowns.dm": SettingWords("dms", "Pause between two direct messages", SECONDS, _COOLDOWN_WHY, "none"),
    "hourly_limits.dms": SettingWords("dms", "Direct messages per hour", COUNT, _HOURLY_WHY),
    "daily_limits.dms": SettingWords("dms", "Direct messages per day", COUNT, _DAILY_WHY),
    "counterpart_cooldowns.conversation": SettingWords(
        "dms",
        "Pause before messaging the same person again",
        SECONDS,
        "Several automated messages in a row to one person feel pushy and are reported as spam.",
        "none",
    ),
    # Publishing (media containers: each post, reel, story or carousel item is one).
    "cooldowns.media_container": SettingWords(
        "publishing",
        "Pause between two prepared media (has no effect today)",
        SECONDS,
        "Kept for older overrides; publishing is paced by the hourly and daily caps below.",
        "none",
    ),
    "hourly_limits.media_containers": SettingWords(
        "publishing",
        "Media prepared per hour",
        COUNT,
        "A burst of uploads is unusual for a person; spreading them keeps the account's rhythm natural.",
    ),
    "daily_limits.media_containers": SettingWords(
        "publishing",
        "Media prepared per day",
        COUNT,
        "Meta allows 400 a day per account; a lower cap leaves room for what you publish by hand.",
    ),
    # Pacing.
    "per_account.max_actions_per_hour": SettingWords(
        "pacing",
        "Everything the account does, per hour",
        COUNT,
        "One ceiling over every kind of action, so that several automations together cannot outrun it.",
    ),
    "per_account.max_actions_per_day": SettingWords(
        "pacing",
        "Everything the account does, per day",
        COUNT,
        "The same ceiling over the day: what a very active person could plausibly do.",
    ),
    "burst.per_account.max_actions": SettingWords(
        "pacing",
        "Most actions in a short burst",
        COUNT,
        "Even within the hourly cap, many actions in the same minute look automated.",
        "off",
    ),
    "burst.per_account.window_seconds": SettingWords(
        "pacing",
        "Length of a burst",
        SECONDS,
        "The short period the burst limit above counts over; off turns burst protection off.",
        "off",
    ),
    "per_workspace.max_actions_per_hour": SettingWords(
        "pacing",
        "All of the workspace's accounts together, per hour",
        COUNT,
        "Caps the workspace's total so that one busy team cannot crowd out the others on the platform.",
    ),
    "per_workspace.max_actions_per_day": SettingWords(
        "pacing", "All of the workspace's accounts together, per day", COUNT, "The same cap over the day."
    ),
    "global.max_actions_per_hour": SettingWords(
        "pacing",
        "The whole platform, per hour",
        COUNT,
        "Protects the platform's standing with Meta; only InstaForge's operators change it.",
    ),
    "global.max_actions_per_day": SettingWords(
        "pacing",
        "The whole platform, per day",
        COUNT,
        "The same protection over the day; only InstaForge's operators change it.",
    ),
    "backoff.base_seconds": SettingWords(
        "pacing",
        "First wait after a failure (doubles with each further failure)",
        SECONDS,
        "Retrying at once after Instagram refused something repeats the mistake; waiting longer lets it clear.",
        "off",
    ),
    "backoff.max_seconds": SettingWords(
        "pacing",
        "Longest wait after failures",
        SECONDS,
        "The doubling stops here, so the account resumes within a known time.",
        "off",
    ),
    # Hours.
    "active_hours.start_hour": SettingWords(
        "hours",
        "Acts on its own from",
        HOUR,
        "Posts and messages nobody asked for at 3 a.m. are a tell; answers to people are not limited by hours.",
    ),
    "active_hours.end_hour": SettingWords(
        "hours", "Acts on its own until", HOUR, "The end of the account's waking day (24:00 is midnight)."
    ),
    # Patterns.
    "patterns.repeat_max": SettingWords(
        "patterns",
        "Same reply text, at most this often",
        COUNT,
        "Identical answers over and over are what spam filters look for; past this a variation is used, or it waits.",
        "off",
    ),
    "patterns.repeat_window_seconds": SettingWords(
        "patterns", "… within this period", SECONDS, "The period the repeated-text limit counts over.", "off"
    ),
    "patterns.velocity_factor": SettingWords(
        "patterns",
        "A sudden spike is this many times the usual rate",
        FACTOR,
        "A sudden jump against the account's own last 24 hours is how takeovers and bots look to Instagram.",
        "off",
    ),
    "patterns.velocity_window_seconds": SettingWords(
        "patterns", "Spikes are measured over", SECONDS, "The short period a spike is counted in.", "off"
    ),
    "patterns.velocity_min_actions": SettingWords(
        "patterns",
        "No spike below this many actions",
        COUNT,
        "A quiet account going from 1 to 5 actions is not a spike; this keeps small numbers from tripping it.",
    ),
    "patterns.user_burst_max": SettingWords(
        "patterns",
        "Answers to one person, at most",
        COUNT,
        "One person getting a stream of automated answers is the kind of thing they report.",
        "off",
    ),
    "patterns.user_burst_window_seconds": SettingWords(
        "patterns", "… within this period", SECONDS, "The period answers to one person are counted over.", "off"
    ),
    # Risk.
    "risk.slow_from_score": SettingWords(
        "risk",
        "Slow down from a risk of",
        SCORE,
        "One rate limit from Instagram is a warning: answering it by going slower avoids the next one.",
        "off",
    ),
    "risk.slow_limit_percent": SettingWords(
        "risk", "Limits while slowed down", PERCENT, "How much of the normal limits stays available when slowed."
    ),
    "risk.slow_spacing_seconds": SettingWords(
        "risk", "Gap between actions while slowed down", SECONDS, "Spreads the remaining actions out.", "none"
    ),
    "risk.crawl_from_score": SettingWords(
        "risk",
        "Crawl from a risk of",
        SCORE,
        "Several warnings in a day: the account does the bare minimum until things calm down.",
        "off",
    ),
    "risk.crawl_limit_percent": SettingWords(
        "risk", "Limits while crawling", PERCENT, "How much of the normal limits stays available when crawling."
    ),
    "risk.crawl_spacing_seconds": SettingWords(
        "risk", "Gap between actions while crawling", SECONDS, "Spreads the remaining actions far apart.", "none"
    ),
    "risk.suspend_after_rate_limits": SettingWords(
        "risk",
        "Stop for review after this many rate limits",
        COUNT,
        "Repeated rate limits mean Instagram is losing patience: a person should look before the account goes on.",
        "never",
    ),
    "risk.rate_limit_window_seconds": SettingWords(
        "risk", "… within this period", SECONDS, "The period rate limits are counted over for the review.", "off"
    ),
}

# Meta's ceilings, in plain words: what each one covers (``MetaCeiling.name`` is for messages).
META_WORDS: dict[str, tuple[str, str]] = {
    "send_api": ("Messages sent through Meta's Send API", "Direct messages, private replies and typing indicators."),
    "send_api_audio_video": ("Audio and video messages", "Messages with an audio or video attachment."),
    "private_replies": ("Private replies to comments", "A direct message that answers a comment."),
    "conversations_api": ("Reading conversations", "Reading the inbox's conversations and messages."),
    "messenger_profile": ("Ice breakers and profile settings", "Setting the questions shown to a new conversation."),
    "media_containers": ("Media prepared for publishing", "Each post, reel, story or carousel item."),
}


def settings_guide_check() -> list[str]:
    """The policy keys and Meta ceilings that have no words here (empty when the guide is complete)."""
    missing = [key for key in POLICY_KEYS if key not in WORDS]
    missing += [ceiling.key for ceiling in META_CEILINGS if ceiling.key not in META_WORDS]
    missing += [key for key, words in WORDS.items() if words.topic not in TOPICS_BY_SLUG]
    return missing


def duration_text(seconds: float) -> str:
    """30 → "30 s", 120 → "2 min", 5400 → "1 h 30 min", 86400 → "1 day"."""
    seconds = int(seconds)
    if seconds < 60 or seconds % 60:
        return f"{seconds:,} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours % 24 == 0 and not rest:
        days = hours // 24
        return f"{days} day{'s' if days > 1 else ''}"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def value_text(key: str, value: int | None) -> str:
    """How a setting's value reads on the page: with its unit, or what 0 and "no value" mean."""
    words = WORDS[key]
    if value is None:
        return "no limit" if words.unit in (COUNT, SECONDS) and not words.zero else (words.zero or "not set")
    if value == 0 and words.zero:
        return words.zero
    if words.unit == SECONDS:
        return duration_text(value)
    if words.unit == HOUR:
        return f"{value:02d}:00"
    if words.unit == PERCENT:
        return f"{value} %"
    if words.unit == FACTOR:
        return f"{value}×"
    if words.unit == SCORE:
        return f"{value}/100"
    return f"{value:,}"


def ceiling_text(ceiling: MetaCeiling) -> str:
    """ "100 per second", "750 per hour", "10 per 10 minutes", "400 per 24 hours"."""
    window = ceiling.window
    if window == timedelta(seconds=1):
        per = "per second"
    elif window == timedelta(hours=1):
        per = "per hour"
    elif window == timedelta(days=1):
        per = "per 24 hours"
    else:
        per = f"per {duration_text(window.total_seconds())}".replace(" min", " minutes")
    return f"{ceiling.limit:,} {per}"


# --- The page: topics with their settings -------------------------------------
SOURCE_WORDS: dict[str, tuple[str, str]] = {
    "policies file": ("Platform default", "from the platform's policies file (config/policies.yaml)"),
    "workspace": ("Workspace override", "set for this workspace by its owners or admins"),
    "account": ("Account override", "set for this account by the workspace's owners or admins"),
    "warmup": ("Warm-up", "the account is warming up: its phase allows less for now"),
    "meta": ("Meta", "from Meta's documentation; applies whatever the settings say"),
}


@dataclass(frozen=True)
class SettingLine:
    """One line of a topic: a policy setting (``key`` set, may be editable) or a fixed fact (``key`` empty)."""

    label: str
    value: str
    source: str  # a key of SOURCE_WORDS
    why: str
    key: str = ""
    ceiling: str = ""

    @property
    def source_label(self) -> str:
        return SOURCE_WORDS[self.source][0]

    @property
    def source_detail(self) -> str:
        return SOURCE_WORDS[self.source][1]


@dataclass
class TopicLines:
    topic: Topic
    lines: list[SettingLine]

    @property
    def overridden(self) -> int:
        return sum(1 for line in self.lines if line.source in ("workspace", "account"))


@dataclass(frozen=True)
class WarmupToday:
    """What the warm-up allows an account today: its day, phase, action budget, hours and capabilities."""

    day: int
    phase: str
    budget: int
    hours: str
    enabled: str


@dataclass(frozen=True)
class TimingFacts:
    """Human timing from the policies file: reply delays per kind of answer, and the typing indicator."""

    on: bool
    typing_seconds: float
    delays: dict[str, tuple[float, float, float]]  # kind → (typical, shortest, longest), seconds


DELAY_LABELS = {
    "comment_reply": ("comments", "Wait before a public reply"),
    "private_reply": ("comments", "Wait before a private reply to a commenter"),
    "dm": ("dms", "Wait before an automated direct message"),
}
_DELAY_WHY = "An answer that arrives the very second something was posted gives the automation away."


def settings_topics(
    *,
    rows: list[tuple[str, int | None, str]],
    account_scope: bool,
    warmup: WarmupToday | None,
    timing: TimingFacts,
) -> list[TopicLines]:
    """Every setting of a scope, by topic, in plain words: ``rows`` are (key, effective value, source)."""
    topics = {topic.slug: TopicLines(topic, []) for topic in TOPICS}
    for key, value, source in rows:
        words = WORDS[key]
        entry = POLICY_KEYS[key]
        shown_source = source
        shown = value
        if warmup is not None and key == "per_account.max_actions_per_day" and (value is None or warmup.budget < value):
            shown, shown_source = warmup.budget, "warmup"
        at_most = f"at most {value_text(key, entry.ceiling)}" if entry.ceiling is not None else ""
        topics[words.topic].lines.append(
            SettingLine(
                label=words.label,
                value=value_text(key, shown),
                source=shown_source,
                why=words.why,
                key=key,
                ceiling=at_most,
            )
        )
    for kind, (typical, low, high) in timing.delays.items():
        topic, label = DELAY_LABELS.get(kind, ("pacing", f"Wait before an automated {kind.replace('_', ' ')}"))
        delay = (
            f"about {duration_text(typical)} ({duration_text(low)} to {duration_text(high)})"
            if timing.on
            else "none (human timing is off in this installation)"
        )
        topics[topic].lines.append(SettingLine(label, delay, "policies file", _DELAY_WHY))
    typing = duration_text(timing.typing_seconds) if timing.on and timing.typing_seconds else "none"
    topics["dms"].lines.append(
        SettingLine(
            "“Typing…” shown before an automated message",
            typing,
            "policies file",
            "A message preceded by a typing indicator reads like a person writing it.",
        )
    )
    if warmup is not None:
        phase = f"day {warmup.day}, {warmup.phase} phase"
        topics["pacing"].lines.insert(
            0,
            SettingLine(
                f"Actions allowed today by the warm-up ({phase})",
                f"{warmup.budget:,}",
                "warmup",
                "A new account that goes from nothing to full speed is flagged; it earns its volume over seven days.",
            ),
        )
        topics["hours"].lines.insert(
            0,
            SettingLine(
                f"Warm-up hours today ({phase})",
                warmup.hours,
                "warmup",
                "A new account is active only a little, at regular times, like someone getting started.",
            ),
        )
        topics["pacing"].lines.insert(
            1,
            SettingLine(
                "What the warm-up lets the account do today",
                warmup.enabled,
                "warmup",
                "Each phase adds a kind of action once the previous ones went through without trouble.",
            ),
        )
    elif account_scope:
        topics["pacing"].lines.insert(
            0,
            SettingLine(
                "Warm-up",
                "finished or not running",
                "warmup",
                "A warming-up account gets a smaller daily budget and fewer hours; this one is not limited by it.",
            ),
        )
    for meta in META_CEILINGS:
        label, covers = META_WORDS[meta.key]
        topics["meta"].lines.append(
            SettingLine(label, ceiling_text(meta), "meta", f"{covers} Meta refuses calls beyond it.")
        )
    return [entry for entry in topics.values() if entry.lines]


def setting_label(key: str) -> str:
    """A setting's name on the page; a name that is not a policy key ("kill switch") is kept as it is."""
    words = WORDS.get(key)
    return words.label if words is not None else key


def plain_message(message: str) -> str:
    """A validation message with every policy key in it replaced by the setting's name in quotes."""
    for key in sorted(WORDS, key=len, reverse=True):
        if key in message:
            message = message.replace(key, f"“{WORDS[key].label}”")
    return message
