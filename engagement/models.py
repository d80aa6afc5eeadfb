from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned
from engagement.matching import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX_CHARS,
    keyword_list_error,
    regex_compile,
    trigger_problem,
)
from instagram.limits import COMMENT_MAX_CHARS, MESSAGE_MAX_BYTES, message_texts_error

# Variations of a reply, used in rotation. Meta sets no number; every planned reply carries all of
# them rendered (for the pattern detector to swap in), so their number bounds the work per comment.
TEMPLATE_VARIATIONS_MAX = 20
# What one comment is matched against: the account's active rules, by priority, at most this many.
COMMENT_RULES_MAX = 100
# Database ceilings of the fields (the forms say it first, in words): a variation per line.
REPLY_TEMPLATES_MAX_CHARS = TEMPLATE_VARIATIONS_MAX * (COMMENT_MAX_CHARS + 1)
PRIVATE_REPLY_TEMPLATES_MAX_CHARS = TEMPLATE_VARIATIONS_MAX * (MESSAGE_MAX_BYTES + 1)


class TriggerType(models.TextChoices):
    ANY_KEYWORD = "any", "Any of the keywords"
    ALL_KEYWORDS = "all", "All of the keywords"
    EXACT_PHRASE = "phrase", "Exact phrase"
    REGEX = "regex", "Regular expression"
    EMOJI_ONLY = "emoji_only", "Emoji only"


class RuleScope(models.TextChoices):
    ALL_POSTS = "all_posts", "All posts"
    CHOSEN_POSTS = "chosen_posts", "Chosen posts"
    NEXT_POST = "next_post", "The next post"
    MENTIONS = "mentions", "Mentions of the account"


class MatchMode(models.TextChoices):
    FIRST = "first", "First matching rule only"
    ALL = "all", "Every matching rule"


class CommentRule(WorkspaceOwned):
    """When a comment in the rule's scope passes its trigger and filters, do the rule's actions."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="comment_rules")
    name = models.CharField(max_length=120)
    trigger_type = models.CharField(max_length=12, choices=TriggerType.choices, default=TriggerType.ANY_KEYWORD)
    keywords = models.TextField(
        blank=True,
        default="",
        help_text=(
            "Keywords: comma-separated (at most 200, 2,200 characters in all). Exact phrase: the phrase. "
            "Regular expression: the pattern, in RE2 syntax (no back-references or look-arounds). "
            "Matching ignores case and accents. Not used for emoji-only."
        ),
    )
    scope = models.CharField(max_length=14, choices=RuleScope.choices, default=RuleScope.ALL_POSTS)
    media_ids = models.JSONField(
        default=list, blank=True, help_text="Chosen posts (Instagram media IDs).", verbose_name="media IDs"
    )
    # "The next post": the media that existed when the rule was saved, and the first new one commented on.
    known_media_ids = models.JSONField(default=list, blank=True, verbose_name="known media IDs")
    next_media_id = models.CharField(max_length=64, blank=True, default="", verbose_name="next post's media ID")
    skip_own = models.BooleanField("Skip the account's own comments", default=True)
    once_per_commenter = models.BooleanField("Once per commenter per post", default=False)
    sentiment_min = models.FloatField(null=True, blank=True, help_text="VADER compound score, -1 (negative) to 1.")
    sentiment_max = models.FloatField(null=True, blank=True)
    languages = models.CharField(
        max_length=200, blank=True, default="", help_text="ISO 639-1 codes, comma-separated (en, pt, es). Empty: any."
    )
    reply_templates = models.TextField(
        blank=True,
        default="",
        help_text=(
            "Public reply: one variation per line, used in rotation. Variables: {username}, {name}, "
            "{first_name}, {keyword}, {post_caption}."
        ),
    )
    private_reply_templates = models.TextField(
        blank=True,
        default="",
        help_text=(
            "Private reply (a DM to the commenter, once per comment, within 7 days): one variation per line. "
            "Same variables as the public reply."
        ),
    )
    action_hide = models.BooleanField("Hide the comment", default=False)
    action_delete = models.BooleanField("Delete the comment", default=False)
    action_flag = models.BooleanField("Flag for a person", default=False)
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    rotation = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(sentiment_min__isnull=True) | Q(sentiment_min__gte=-1, sentiment_min__lte=1),
                name="comment_rule_sentiment_min_range",
            ),
            models.CheckConstraint(
                condition=Q(sentiment_max__isnull=True) | Q(sentiment_max__gte=-1, sentiment_max__lte=1),
                name="comment_rule_sentiment_max_range",
            ),
            # Bounded work per comment whatever is saved (issue 18): a list, phrase or pattern, and the replies.
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("keywords"), KEYWORDS_MAX_CHARS),
                name="comment_rule_keywords_length",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("reply_templates"), REPLY_TEMPLATES_MAX_CHARS),
                name="comment_rule_reply_templates_length",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("private_reply_templates"), PRIVATE_REPLY_TEMPLATES_MAX_CHARS),
                name="comment_rule_private_templates_length",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A rule must match and act, within bounds: its trigger is valid and small enough, it does something.

        A regex must compile on RE2 (no back-references or look-arounds) within its size; a keyword
        list, a phrase and the replies stay within the limits that keep one comment's matching cheap.
        """
        errors: dict[str, str] = {}
        keyword_problem = keyword_list_error(self.keywords)
        if self.trigger_type == TriggerType.REGEX:
            try:
                regex_compile(self.keywords)
            except ValueError as exc:
                errors["keywords"] = str(exc)
        elif self.trigger_type in (TriggerType.ANY_KEYWORD, TriggerType.ALL_KEYWORDS) and not self.keyword_list:
            errors["keywords"] = "Enter at least one keyword."
        elif self.trigger_type in (TriggerType.ANY_KEYWORD, TriggerType.ALL_KEYWORDS) and keyword_problem:
            errors["keywords"] = keyword_problem
        elif self.trigger_type == TriggerType.EXACT_PHRASE and not self.keywords.strip():
            errors["keywords"] = "Enter the phrase."
        elif self.trigger_type == TriggerType.EXACT_PHRASE and len(self.keywords.strip()) > KEYWORD_MAX_LENGTH:
            errors["keywords"] = f"A phrase is at most {KEYWORD_MAX_LENGTH} characters."
        if self.scope == RuleScope.CHOSEN_POSTS and not self.media_ids:
            errors["media_ids"] = "Choose at least one post."
        if (
            self.sentiment_min is not None
            and self.sentiment_max is not None
            and self.sentiment_min > self.sentiment_max
        ):
            errors["sentiment_max"] = "The highest sentiment must not be below the lowest."
        if not self.action_names:
            errors["reply_templates"] = "Give the rule something to do: a reply, a private reply, hide, delete or flag."
        too_long = [t for t in self.template_list if len(t) > COMMENT_MAX_CHARS]
        if too_long:
            errors["reply_templates"] = f"Instagram comments are at most {COMMENT_MAX_CHARS:,} characters."
        private_too_long = message_texts_error(self.private_template_list, what="A private reply")
        if private_too_long is not None:
            errors["private_reply_templates"] = private_too_long
        for field, templates in (
            ("reply_templates", self.template_list),
            ("private_reply_templates", self.private_template_list),
        ):
            if len(templates) > TEMPLATE_VARIATIONS_MAX:
                errors[field] = (
                    f"At most {TEMPLATE_VARIATIONS_MAX} variations (one per line); this has {len(templates)}."
                )
        if self.is_active and self.account_id is not None:
            others = CommentRule.all_workspaces.filter(account_id=self.account_id, is_active=True).exclude(pk=self.pk)
            if others.count() >= COMMENT_RULES_MAX:
                errors["is_active"] = (
                    f"An account has at most {COMMENT_RULES_MAX} active comment rules; switch one off first."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def trigger_problem(self) -> str:
        """Why this saved rule's trigger never matches or is cut ("" when fine): rows from before RE2 and limits."""
        return trigger_problem(trigger_type=self.trigger_type, keywords=self.keywords)

    @property
    def keyword_list(self) -> list[str]:
        return [keyword.strip() for keyword in self.keywords.split(",") if keyword.strip()]

    @property
    def template_list(self) -> list[str]:
        return [line.strip() for line in self.reply_templates.splitlines() if line.strip()]

    @property
    def private_template_list(self) -> list[str]:
        return [line.strip() for line in self.private_reply_templates.splitlines() if line.strip()]

    @property
    def language_list(self) -> list[str]:
        return [code.strip().lower() for code in self.languages.split(",") if code.strip()]

    @property
    def action_names(self) -> list[str]:
        names = []
        if self.template_list:
            names.append("reply")
        if self.private_template_list:
            names.append("private reply")
        if self.action_hide:
            names.append("hide")
        if self.action_delete:
            names.append("delete")
        if self.action_flag:
            names.append("flag")
        return names


class CommentSettings(WorkspaceOwned):
    """Per account: how rules combine, and automatic hiding of negative and spam comments."""

    account = models.OneToOneField(
        "accounts.InstagramAccount", on_delete=models.CASCADE, related_name="comment_settings"
    )
    match_mode = models.CharField(max_length=8, choices=MatchMode.choices, default=MatchMode.FIRST)
    auto_hide_negative = models.BooleanField("Hide negative comments automatically", default=False)
    auto_hide_threshold = models.FloatField(
        default=-0.6, help_text="Hide when VADER's compound score is at or below this (-1 to 0)."
    )
    auto_hide_spam = models.BooleanField(
        "Hide spam comments automatically",
        default=False,
        help_text="Promotion phrases, links and mass tagging. A hidden spam comment gets no reply from any rule.",
    )

    class Meta(WorkspaceOwned.Meta):
        verbose_name_plural = "comment settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(auto_hide_threshold__gte=-1, auto_hide_threshold__lte=1),
                name="comment_settings_threshold_range",
            )
        ]

    def __str__(self) -> str:
        return f"comment settings of {self.account_id}"


class CommentOutcome(models.TextChoices):
    REPLY_PLANNED = "reply_planned", "Actions planned"
    NO_RULE_MATCHED = "no_rule", "No rule matched"
    OWN_COMMENT = "own_comment", "Own comment, skipped"
    AUTO_HIDDEN = "auto_hidden", "Hidden automatically (negative or spam)"


class ReviewState(models.TextChoices):
    NONE = "", "Not flagged"
    FLAGGED = "flagged", "Waiting for a person"
    RESOLVED = "resolved", "Reviewed"


class Comment(WorkspaceOwned):
    """A comment on one of the account's media (or mentioning the account), as received from Instagram."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="comments")
    ig_comment_id = models.CharField(max_length=64, verbose_name="Instagram comment ID")
    media_id = models.CharField(max_length=64, blank=True, default="", verbose_name="media ID")
    media_product_type = models.CharField(max_length=30, blank=True, default="")
    parent_id = models.CharField(max_length=64, blank=True, default="", verbose_name="parent comment ID")
    from_id = models.CharField(max_length=64, blank=True, default="", verbose_name="commenter's Instagram ID")
    from_username = models.CharField(max_length=100, blank=True, default="")
    text = models.TextField(blank=True, default="")
    is_mention = models.BooleanField(default=False)
    sentiment = models.FloatField(null=True, blank=True)
    language = models.CharField(max_length=12, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    inbound_event = models.ForeignKey(
        "instagram.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    matched_rule = models.ForeignKey(
        CommentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="matched_comments"
    )
    outcome = models.CharField(max_length=20, choices=CommentOutcome.choices, blank=True, default="")
    review_state = models.CharField(max_length=10, choices=ReviewState.choices, blank=True, default="")
    flagged_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta(WorkspaceOwned.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "ig_comment_id"], name="comment_unique_per_account")]
        indexes = [
            models.Index(fields=["workspace", "review_state"], name="comment_review_idx"),
            # The comment list's keyset paging and date range: (received_at, id) within a workspace.
            models.Index(fields=["workspace", "received_at", "id"], name="comment_received_idx"),
        ]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"@{self.from_username}: {self.text[:40]}"


class CommentRuleHit(WorkspaceOwned):
    """A rule that matched a comment, and what it matched on (explains every automated act)."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="hits")
    rule = models.ForeignKey(CommentRule, on_delete=models.CASCADE, related_name="hits")
    media_id = models.CharField(max_length=64, blank=True, default="", verbose_name="media ID")
    from_id = models.CharField(max_length=64, blank=True, default="", verbose_name="commenter's Instagram ID")
    matched = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        constraints = [models.UniqueConstraint(fields=["comment", "rule"], name="comment_rule_hit_unique")]
        indexes = [models.Index(fields=["rule", "media_id", "from_id"], name="comment_hit_commenter_idx")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.rule_id} matched {self.comment_id}"
