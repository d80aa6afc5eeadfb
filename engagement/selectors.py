"""Reads for comments and rules (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import InstagramAccount
from actions.models import Action
from engagement.models import Comment, CommentRule, CommentRuleHit, ReviewState


def rules_of_account(*, account: InstagramAccount) -> QuerySet[CommentRule]:
    return CommentRule.objects.filter(account=account).order_by("priority", "id")


def _with_actions(comments: list[Comment]) -> list[Comment]:
    """Attach ``comment.actions`` (every ledger entry it caused) and ``comment.reply_action`` (the public reply)."""
    actions = Action.objects.filter(source_kind="comment", source_id__in=[str(c.pk) for c in comments]).order_by("id")
    by_source: dict[str, list[Action]] = {}
    for action in actions:
        by_source.setdefault(action.source_id, []).append(action)
    for comment in comments:
        own = by_source.get(str(comment.pk), [])
        comment.actions = own  # type: ignore[attr-defined]
        comment.reply_action = next((a for a in own if a.action_type == "comment_reply"), None)  # type: ignore[attr-defined]
    return comments


def comments_recent(*, account: InstagramAccount | None = None, limit: int = 50) -> list[Comment]:
    """Recent comments with their matched rule and their actions on the ledger."""
    queryset = Comment.objects.select_related("account", "matched_rule").order_by("-received_at", "-id")
    if account is not None:
        queryset = queryset.filter(account=account)
    return _with_actions(list(queryset[:limit]))


def comments_flagged(*, limit: int = 200) -> list[Comment]:
    """The review list: comments flagged for a person, oldest first."""
    queryset = (
        Comment.objects.select_related("account", "matched_rule")
        .filter(review_state=ReviewState.FLAGGED)
        .order_by("flagged_at", "id")
    )
    return _with_actions(list(queryset[:limit]))


def comments_flagged_count() -> int:
    return Comment.objects.filter(review_state=ReviewState.FLAGGED).count()


def actions_of_comment(*, comment: Comment) -> list[Action]:
    return list(Action.objects.filter(source_kind="comment", source_id=str(comment.pk)).order_by("id"))


def hits_of_comment(*, comment: Comment) -> list[CommentRuleHit]:
    return list(CommentRuleHit.objects.filter(comment=comment).select_related("rule").order_by("id"))
