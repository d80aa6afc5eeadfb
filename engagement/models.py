from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.tenancy import WorkspaceOwned


class CommentRule(WorkspaceOwned):
    """When a comment contains one of the keywords, reply with one of the templates."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="comment_rules")
    name = models.CharField(max_length=120)
    keywords = models.TextField(help_text="Comma-separated. Matching ignores case and accents.")
    reply_templates = models.TextField(
        help_text=(
            "One reply per line; one is chosen for each comment. {username} is replaced by the commenter's username."
        )
    )
    priority = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta(WorkspaceOwned.Meta):
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def keyword_list(self) -> list[str]:
        return [keyword.strip() for keyword in self.keywords.split(",") if keyword.strip()]

    @property
    def template_list(self) -> list[str]:
        return [line.strip() for line in self.reply_templates.splitlines() if line.strip()]


class CommentOutcome(models.TextChoices):
    REPLY_PLANNED = "reply_planned", "Reply planned"
    NO_RULE_MATCHED = "no_rule", "No rule matched"
    OWN_COMMENT = "own_comment", "Own comment, skipped"


class Comment(WorkspaceOwned):
    """A comment on one of the account's media, as received from Instagram."""

    account = models.ForeignKey("accounts.InstagramAccount", on_delete=models.CASCADE, related_name="comments")
    ig_comment_id = models.CharField(max_length=64)
    media_id = models.CharField(max_length=64, blank=True, default="")
    media_product_type = models.CharField(max_length=30, blank=True, default="")
    parent_id = models.CharField(max_length=64, blank=True, default="")
    from_id = models.CharField(max_length=64, blank=True, default="")
    from_username = models.CharField(max_length=100, blank=True, default="")
    text = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    inbound_event = models.ForeignKey(
        "instagram.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    matched_rule = models.ForeignKey(
        CommentRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="matched_comments"
    )
    outcome = models.CharField(max_length=20, choices=CommentOutcome.choices, blank=True, default="")

    class Meta(WorkspaceOwned.Meta):
        constraints = [models.UniqueConstraint(fields=["account", "ig_comment_id"], name="comment_unique_per_account")]
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"@{self.from_username}: {self.text[:40]}"
