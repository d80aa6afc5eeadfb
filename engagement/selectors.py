"""Reads for comments and rules (within the workspace in scope)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from accounts.models import InstagramAccount
from actions.models import Action
from engagement.models import Comment, CommentRule, CommentRuleHit, ReviewState
from instaforge.lists import KeysetPage, ListQuery, date_range_filter, keyset_page


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


def comments_filtered(*, query: ListQuery) -> QuerySet[Comment]:
    """The comments a list query selects: its search in the text or the commenter's username, its date range."""
    comments = Comment.objects.select_related("account", "matched_rule")
    if query.search:
        comments = comments.filter(
            Q(text__icontains=query.search) | Q(from_username__icontains=query.search.lstrip("@"))
        )
    return date_range_filter(comments, field_name="received_at", query=query)


def comments_page(*, query: ListQuery) -> KeysetPage[Comment]:
    """One page of the comment list, newest first, paged by (received_at, id), each with its ledger entries.

    Keyset paging: comments grow with every post's audience, and an (received_at, id) range read stays one
    index scan on any page (the ``comment_received_idx`` index), where OFFSET would read every row before it.
    """
    page = keyset_page(comments_filtered(query=query), time_field="received_at", query=query)
    _with_actions(page.rows)
    return page


COMMENT_CSV_HEADER: Sequence[str] = (
    "id",
    "received_at",
    "account",
    "from_username",
    "text",
    "media_id",
    "is_mention",
    "rule",
    "outcome",
    "review_state",
    "reply_state",
    "reply_message",
)


def comments_export(*, query: ListQuery) -> QuerySet[Comment]:
    """The rows of the comment CSV, oldest first, each with its public reply's state and text in the same query."""
    replies = Action.objects.filter(
        source_kind="comment", action_type="comment_reply", source_id=Cast(OuterRef("pk"), output_field=CharField())
    ).order_by("id")
    return (
        comments_filtered(query=query)
        .annotate(
            reply_state=Subquery(replies.values("state")[:1], output_field=CharField()),
            reply_message=Subquery(
                replies.annotate(message=KeyTextTransform("message", "payload")).values("message")[:1],
                output_field=CharField(),
            ),
        )
        .order_by("received_at", "id")
    )


def comment_csv_row(comment: Comment) -> Sequence[Any]:
    annotated: Any = comment
    return (
        comment.pk,
        comment.received_at,
        comment.account.username,
        comment.from_username,
        comment.text,
        comment.media_id,
        comment.is_mention,
        comment.matched_rule.name if comment.matched_rule else "",
        comment.get_outcome_display() if comment.outcome else "",
        comment.get_review_state_display() if comment.review_state else "",
        annotated.reply_state or "",
        annotated.reply_message or "",
    )


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
