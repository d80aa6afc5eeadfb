"""Reads for comments and rules (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import InstagramAccount
from actions.models import Action
from engagement.models import Comment, CommentRule


def rules_of_account(*, account: InstagramAccount) -> QuerySet[CommentRule]:
    return CommentRule.objects.filter(account=account).order_by("priority", "id")


def comments_recent(*, account: InstagramAccount | None = None, limit: int = 50) -> list[Comment]:
    """Recent comments with their matched rule and their reply's ledger entry (``comment.reply_action``)."""
    queryset = Comment.objects.select_related("account", "matched_rule").order_by("-received_at", "-id")
    if account is not None:
        queryset = queryset.filter(account=account)
    comments = list(queryset[:limit])
    actions = Action.objects.filter(source_kind="comment", source_id__in=[str(c.pk) for c in comments])
    by_source = {action.source_id: action for action in actions}
    for comment in comments:
        comment.reply_action = by_source.get(str(comment.pk))  # type: ignore[attr-defined]
    return comments


def reply_action_of(*, comment: Comment) -> Action | None:
    return Action.objects.filter(source_kind="comment", source_id=str(comment.pk)).first()
