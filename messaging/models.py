"""The DM inbox: conversations with one person each, their messages, and the team's notes."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned
from engagement.matching import KEYWORDS_MAX_CHARS, keyword_list_error
from instagram.limits import MESSAGE_MAX_BYTES

# What one message is matched against: the account's active flows, then its active DM rules, by
# priority, at most this many of each (a bound on the work per message, like each trigger's own).
DM_AUTOMATIONS_MAX = 100
# Variations of a DM reply (Meta sets no number; one is chosen per message). Each is at most
# 1,000 bytes (``instagram.limits``), so at most 1,000 characters: the field's database ceiling.
DM_TEMPLATE_VARIATIONS_MAX = 20
DM_REPLY_TEMPLATES_MAX_CHARS = DM_TEMPLATE_VARIATIONS_MAX * (MESSAGE_MAX_BYTES + 1)


def _automation_errors(item: DmRule | Flow, *, what: str) -> dict[str, str]:
    """The bounds a DM rule and a flow share: their keyword list, and active ones per account."""
    errors: dict[str, str] = {}
    if item.trigger_kind == TriggerKind.KEYWORD and (problem := keyword_list_error(item.keywords)) is not None:
        errors["keywords"] = problem
    if item.is_active and item.account_id is not None:
        others = type(item).all_workspaces.filter(account_id=item.account_id, is_active=True).exclude(pk=item.pk)
        if others.count() >= DM_AUTOMATIONS_MAX:
            errors["is_active"] = f"An account has at most {DM_AUTOMATIONS_MAX} active {what}; switch one off first."
    return errors


class ConversationState(models.TextChoices):
    AUTOMATED = "automated", "Automated"
    WAITING = "waiting", "Waiting for a person"
    CLOSED = "closed", "Closed"


class Conversation(WorkspaceOwned):
    """The DM thread between one Instagram account and one person (their Instagram-scoped id)."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="conversations")
    participant_igsid = models.CharField("Instagram-scoped ID", max_length=64)
    participant_username = models.CharField(max_length=100, blank=True, default="")
    participant_name = models.CharField(max_length=200, blank=True, default="")
    state = models.CharField(max_length=12, choices=ConversationState.choices, default=ConversationState.AUTOMATED)
    assigned_to = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_conversations"
    )
    last_message_at = models.DateTimeField(null=True, blank=True)
    # The person's last message: Meta's 24-hour window (and the 7-day human-agent window) run from here.
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    # The last message's text, so the inbox list needs no second query.
    last_message_preview = models.CharField(max_length=200, blank=True, default="")
    last_message_direction = models.CharField(max_length=3, blank=True, default="")
    # Tags set by flows (and people): e.g. "lead", "vip".
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["account", "participant_igsid"], name="conversation_unique_participant_per_account"
            ),
            models.CheckConstraint(condition=Q(state__in=ConversationState.values), name="conversation_state_valid"),
        ]
        indexes = [models.Index(fields=["workspace", "last_message_at"], name="conversation_recent_idx")]
        ordering = ["-last_message_at", "-id"]

    def __str__(self) -> str:
        return f"@{self.participant_username}" if self.participant_username else f"IGSID {self.participant_igsid}"

    @property
    def awaits_answer(self) -> bool:
        """The person wrote last: nobody has answered yet."""
        return self.last_message_direction == MessageDirection.INBOUND


class MessageDirection(models.TextChoices):
    INBOUND = "in", "From the person"
    OUTBOUND = "out", "From the account"


class Message(WorkspaceOwned):
    """One DM. Outbound messages a member wrote are on the ledger (``action``) before they are sent."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="+")
    # Meta's message id; empty for a reply of ours until Instagram has given it one.
    mid = models.CharField(max_length=200, blank=True, default="")
    direction = models.CharField(max_length=3, choices=MessageDirection.choices)
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    # Sent by the account outside InstaForge (the Instagram app, another tool): known only from its echo.
    is_echo = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.ForeignKey(
        "actions.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="direct_messages"
    )
    inbound_event = models.ForeignKey(
        "instagram.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Meta's timestamp for received messages and echoes; the moment a member wrote it for our replies.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [
            models.UniqueConstraint(fields=["account", "mid"], condition=~Q(mid=""), name="message_unique_mid"),
            models.UniqueConstraint(fields=["action"], condition=Q(action__isnull=False), name="message_unique_action"),
            models.CheckConstraint(condition=Q(direction__in=MessageDirection.values), name="message_direction_valid"),
        ]
        indexes = [models.Index(fields=["conversation", "created_at"], name="message_thread_idx")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.direction}: {self.text[:40]}"

    @property
    def is_outbound(self) -> bool:
        return self.direction == MessageDirection.OUTBOUND


class Note(WorkspaceOwned):
    """A team member's private note on a conversation; never sent to Instagram."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:40]


# ---------------------------------------------------------------------------
# Automation: what the pipeline found, rules, flows, settings, and the event log


class Intent(models.TextChoices):
    GREETING = "greeting", "Greeting"
    QUESTION = "question", "Question"
    PRICING = "pricing", "Pricing"
    SUPPORT = "support", "Support"
    COMPLAINT = "complaint", "Complaint"
    SPAM = "spam", "Spam"
    OTHER = "other", "Other"


class TriggerKind(models.TextChoices):
    KEYWORD = "keyword", "A keyword in the message"
    INTENT = "intent", "The message's intent"
    NEW_CONVERSATION = "new_conversation", "A new conversation (welcome)"
    STORY_REPLY = "story_reply", "A reply to one of the account's stories"
    STORY_MENTION = "story_mention", "A mention of the account in a story"


class MessageAnalysis(WorkspaceOwned):
    """What the pipeline found in one received message: intent, confidence and sentiment."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="analysis")
    intent = models.CharField(max_length=12, choices=Intent.choices)
    confidence = models.FloatField()
    classified_by = models.CharField(max_length=60, help_text="rules, or the model that classified it")
    matched_keyword = models.CharField(max_length=100, blank=True, default="")
    sentiment = models.FloatField(help_text="VADER compound score, -1 (negative) to 1 (positive)")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "message analyses"
        constraints = [models.CheckConstraint(condition=Q(intent__in=Intent.values), name="analysis_intent_valid")]

    def __str__(self) -> str:
        return f"{self.intent} ({self.confidence:.2f}), sentiment {self.sentiment:+.2f}"


class AutomatedReply(WorkspaceOwned):
    """Why an automated message was sent: its trigger and the rule, flow step or model that wrote it."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="automation")
    trigger = models.CharField(max_length=300, help_text="what in the received message started it")
    generator = models.CharField(max_length=20)  # welcome, rule, flow, ai, fallback
    rule = models.ForeignKey("messaging.DmRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    flow_version = models.ForeignKey(
        "messaging.FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    flow_step = models.CharField(max_length=40, blank=True, default="")
    model = models.CharField(max_length=120, blank=True, default="")
    detail = models.TextField(blank=True, default="", help_text="e.g. why the AI reply fell back to a template")
    in_reply_to = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "automated replies"

    def __str__(self) -> str:
        return f"{self.generator}: {self.trigger}"

    @property
    def generator_label(self) -> str:
        """What wrote the message, in words (the generator is stored as a short code)."""
        return GENERATOR_LABELS.get(self.generator, self.generator.replace("_", " ").capitalize())


# How the "Why was this sent?" panel names what wrote an automated message (messaging.automation's generators).
GENERATOR_LABELS = {
    "welcome": "Welcome message",
    "rule": "DM rule",
    "flow": "Flow",
    "ai": "AI reply",
    "fallback": "Fallback reply",
}


class DmRule(WorkspaceOwned):
    """Keyword / intent / welcome / story rules of one account: reply with one of the templates."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="dm_rules")
    name = models.CharField(max_length=120)
    trigger_kind = models.CharField(max_length=20, choices=TriggerKind.choices, default=TriggerKind.KEYWORD)
    keywords = models.TextField(
        blank=True, default="", help_text="Comma-separated (at most 200). Ignores case and accents."
    )
    intent = models.CharField(max_length=12, choices=Intent.choices, blank=True, default="")
    reply_templates = models.TextField(
        help_text="One variation per line; one is chosen per message. Variables: {username}, {name}, {first_name}."
    )
    quick_replies = models.TextField(
        blank=True,
        default="",
        help_text="Optional buttons, one per line (at most 13, 20 characters each). "
        "For a welcome, these are the conversation's ice breakers.",
    )
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        verbose_name = "DM rule"
        verbose_name_plural = "DM rules"
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(trigger_kind__in=TriggerKind.values), name="dm_rule_trigger_valid"),
            # Bounded work per message whatever is saved (issue 18).
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("keywords"), KEYWORDS_MAX_CHARS), name="dm_rule_keywords_length"
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("reply_templates"), DM_REPLY_TEMPLATES_MAX_CHARS),
                name="dm_rule_reply_templates_length",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Within the bounds that keep one message's matching cheap: the keyword list, replies, rules per account."""
        errors = _automation_errors(self, what="DM rules")
        if len(self.template_list) > DM_TEMPLATE_VARIATIONS_MAX:
            errors["reply_templates"] = (
                f"At most {DM_TEMPLATE_VARIATIONS_MAX} variations (one per line); this has {len(self.template_list)}."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def keyword_list(self) -> list[str]:
        return [keyword.strip() for keyword in self.keywords.split(",") if keyword.strip()]

    @property
    def template_list(self) -> list[str]:
        return [line.strip() for line in self.reply_templates.splitlines() if line.strip()]

    @property
    def quick_reply_list(self) -> list[str]:
        return [line.strip() for line in self.quick_replies.splitlines() if line.strip()]


class Flow(WorkspaceOwned):
    """A multi-turn conversation stored as data. Its steps live in versions; editing makes a new version."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=120)
    trigger_kind = models.CharField(max_length=20, choices=TriggerKind.choices, default=TriggerKind.KEYWORD)
    keywords = models.TextField(
        blank=True, default="", help_text="Comma-separated (at most 200). Ignores case and accents."
    )
    intent = models.CharField(max_length=12, choices=Intent.choices, blank=True, default="")
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    current_version = models.ForeignKey(
        "messaging.FlowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(trigger_kind__in=TriggerKind.values), name="flow_trigger_valid"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("keywords"), KEYWORDS_MAX_CHARS), name="flow_keywords_length"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Within the bounds that keep one message's matching cheap: the keyword list, flows per account."""
        errors = _automation_errors(self, what="flows")
        if errors:
            raise ValidationError(errors)

    @property
    def keyword_list(self) -> list[str]:
        return [keyword.strip() for keyword in self.keywords.split(",") if keyword.strip()]


class FlowVersion(WorkspaceOwned):
    """One immutable version of a flow's steps (a JSON list; see ``messaging.flows``)."""

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    steps = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["flow", "-number"]
        constraints = [models.UniqueConstraint(fields=["flow", "number"], name="flow_version_unique_number")]

    def __str__(self) -> str:
        return f"{self.flow} v{self.number}"


class FlowRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting for an answer"
    DELAYED = "delayed", "Waiting (delay)"
    COMPLETED = "completed", "Completed"
    HANDED_OVER = "handed_over", "Handed to a person"
    STOPPED = "stopped", "Stopped"


ACTIVE_RUN_STATUSES = [FlowRunStatus.RUNNING, FlowRunStatus.WAITING, FlowRunStatus.DELAYED]


class FlowRun(WorkspaceOwned):
    """A conversation's progress through one flow version, persisted after every step."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="flow_runs")
    version = models.ForeignKey(FlowVersion, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=12, choices=FlowRunStatus.choices, default=FlowRunStatus.RUNNING)
    # The step to run (or waiting on).
    step_id = models.CharField(max_length=40, blank=True, default="", verbose_name="step ID")
    # Steps run so far: makes each send's idempotency key unique and stable across restarts.
    steps_taken = models.PositiveIntegerField(default=0)
    variables = models.JSONField(default=dict, blank=True)
    resume_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=300, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["running", "waiting", "delayed"]),
                name="flow_run_one_active_per_conversation",
            ),
            models.CheckConstraint(condition=Q(status__in=FlowRunStatus.values), name="flow_run_status_valid"),
        ]
        indexes = [models.Index(fields=["status", "resume_at"], name="flow_run_due_idx")]

    def __str__(self) -> str:
        return f"{self.version} in {self.conversation} ({self.status})"


class MessagingSettings(WorkspaceOwned):
    """A workspace's DM automation settings: hand-over thresholds, the optional classifier and AI replies."""

    handover_keywords = models.CharField(
        max_length=300, default="human, agent, person", help_text="Comma-separated words that ask for a person."
    )
    handover_confidence_below = models.FloatField(
        default=0.0, help_text="Hand over when the intent confidence is below this (0 turns it off)."
    )
    handover_sentiment_below = models.FloatField(
        default=-0.6, help_text="Hand over when VADER's compound score is below this (-1 turns it off)."
    )
    notify_by_email = models.BooleanField(default=True, help_text="Email the members when a person is needed.")
    classifier_ai = models.BooleanField(
        default=False,
        help_text="Ask the AI endpoint to classify messages the keyword rules cannot.",
        verbose_name="classify messages with AI",
    )
    ai_enabled = models.BooleanField(
        default=False, help_text="Answer with AI when no rule or flow matches.", verbose_name="answer with AI"
    )
    ai_base_url = models.URLField(
        blank=True,
        default="",
        help_text="An OpenAI-compatible API, e.g. https://api.example.com",
        verbose_name="AI base URL",
    )
    ai_model = models.CharField(max_length=120, blank=True, default="", verbose_name="AI model")
    ai_api_key_encrypted = models.TextField(blank=True, default="", verbose_name="AI API key (encrypted)")
    ai_system_prompt = models.TextField(
        blank=True,
        default="You answer Instagram DMs for the brand, briefly and kindly.",
        verbose_name="instructions for the AI",
    )
    ai_brand_facts = models.TextField(blank=True, default="", verbose_name="facts about the brand for the AI")
    ai_max_length = models.PositiveIntegerField(default=500, verbose_name="longest AI reply (characters)")
    ai_blocked_words = models.TextField(
        blank=True,
        default="",
        help_text="Comma-separated (at most 200); a reply with one falls back.",
        verbose_name="words an AI reply must not contain",
    )
    ai_timeout_seconds = models.FloatField(default=10.0, verbose_name="AI timeout (seconds)")
    ai_fallback_template = models.TextField(
        blank=True,
        default="Thanks for your message, {username}! We will get back to you soon.",
        verbose_name="reply when the AI cannot answer",
    )

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "messaging settings"
        constraints = [
            models.UniqueConstraint(fields=["workspace"], name="messaging_settings_one_per_workspace"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("ai_blocked_words"), KEYWORDS_MAX_CHARS),
                name="messaging_settings_blocked_words_length",
            ),
        ]

    def __str__(self) -> str:
        return f"Messaging settings of workspace {self.workspace_id}"

    @property
    def handover_keyword_list(self) -> list[str]:
        return [word.strip() for word in self.handover_keywords.split(",") if word.strip()]


class ConversationEvent(WorkspaceOwned):
    """What happened to a conversation (new, handed over, flow completed, lead, …): shown and subscribed to."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="conversation_event_idx")]

    def __str__(self) -> str:
        return f"{self.kind} in {self.conversation_id}"

    @property
    def kind_label(self) -> str:
        """The kind as the conversation page names it (messaging.events.EVENT_KINDS)."""
        return EVENT_KIND_LABELS.get(self.kind, self.kind.replace("_", " ").capitalize())


# How the conversation page names each event kind (messaging.events defines the kinds).
EVENT_KIND_LABELS = {
    "new_conversation": "New conversation",
    "hand_over": "Handed over to a person",
    "flow_completed": "Flow completed",
    "new_lead": "New lead",
    "automation_skipped": "Automation skipped",
}


class IceBreakerSet(WorkspaceOwned):
    """The questions a person can tap to start a conversation with the account (at most 4, Meta's limit).

    Each save is a new ``revision``, sent to Instagram as one ``messenger_profile`` action; the
    ledger tells whether it is live. A tapped question arrives as a ``messaging_postbacks`` event
    and runs through the automation like a message with the question's text.
    """

    account = models.OneToOneField(
        "accounts.InstagramAccount", on_delete=models.CASCADE, related_name="ice_breaker_set"
    )
    questions = models.JSONField(default=list, blank=True)
    revision = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta(WorkspaceOwned.Meta):
        verbose_name = "ice breakers"
        verbose_name_plural = "ice breakers"

    def __str__(self) -> str:
        return f"Ice breakers of {self.account}"
