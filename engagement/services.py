"""Writes for comments and comment rules."""

from __future__ import annotations

import hashlib
import logging

from django.db import IntegrityError, transaction

from accounts.models import InstagramAccount
from actions.models import ActionType
from actions.services import action_plan
from engagement.matching import any_keyword_matches
from engagement.models import Comment, CommentOutcome, CommentRule
from instagram.events import HandlerResult
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import CommentEvent, event_parse

logger = logging.getLogger(__name__)


def reply_render(*, rule: CommentRule, comment: Comment) -> str:
    """Pick one of the rule's templates (stable per comment, so a retry picks the same) and fill it in."""
    templates = rule.template_list
    digest = int(hashlib.sha256(comment.ig_comment_id.encode()).hexdigest(), 16)
    template = templates[digest % len(templates)]
    return template.replace("{username}", f"@{comment.from_username}" if comment.from_username else "")


def comment_rule_match(*, account: InstagramAccount, text: str) -> CommentRule | None:
    """The first active rule of the account (by priority) with a keyword in ``text``."""
    for rule in CommentRule.objects.filter(account=account, is_active=True).order_by("priority", "id"):
        if rule.template_list and any_keyword_matches(keywords=rule.keyword_list, text=text):
            return rule
    return None


def comment_ingest(
    *, account: InstagramAccount, event: CommentEvent, inbound_event: InboundEvent | None = None
) -> Comment:
    """Store a comment from a ``comments`` webhook and plan the reply its rule asks for.

    Idempotent: the same comment id gives the same comment and at most one reply
    (the reply's idempotency key is the comment id).
    """
    try:
        with transaction.atomic():
            comment, _ = Comment.objects.get_or_create(
                account=account,
                ig_comment_id=event.comment_id,
                defaults={
                    "workspace_id": account.workspace_id,
                    "media_id": event.media.id or "",
                    "media_product_type": event.media.media_product_type or "",
                    "parent_id": event.parent_id or "",
                    "from_id": event.author.id or "",
                    "from_username": event.author.username or "",
                    "text": event.text,
                    "inbound_event": inbound_event,
                },
            )
    except IntegrityError:
        comment = Comment.objects.get(account=account, ig_comment_id=event.comment_id)

    if comment.from_id and comment.from_id == account.ig_user_id:
        _set_outcome(comment, CommentOutcome.OWN_COMMENT, None)
        return comment
    rule = comment_rule_match(account=account, text=comment.text)
    if rule is None:
        _set_outcome(comment, CommentOutcome.NO_RULE_MATCHED, None)
        return comment
    action_plan(
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key=f"comment_reply:{comment.ig_comment_id}",
        payload={
            "comment_id": comment.ig_comment_id,
            "commenter_id": comment.from_id,  # for the safety engine's per-commenter cooldown
            "message": reply_render(rule=rule, comment=comment),
            "rule_id": rule.pk,
        },
        source_kind="comment",
        source_id=str(comment.pk),
    )
    _set_outcome(comment, CommentOutcome.REPLY_PLANNED, rule)
    return comment


def _set_outcome(comment: Comment, outcome: str, rule: CommentRule | None) -> None:
    comment.outcome = outcome
    comment.matched_rule = rule
    comment.save(update_fields=["outcome", "matched_rule"])


def comments_event_handle(event: InboundEvent) -> HandlerResult:
    """Handler for the ``comments`` webhook field."""
    assert event.account is not None
    parsed = event_parse(field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time)
    if not isinstance(parsed, CommentEvent):
        return HandlerResult(InboundEventState.IGNORED, f"not a comment: {type(parsed).__name__}")
    comment = comment_ingest(account=event.account, event=parsed, inbound_event=event)
    return HandlerResult(InboundEventState.PROCESSED, comment.get_outcome_display())


def comment_rule_save(*, rule: CommentRule) -> CommentRule:
    rule.full_clean()
    rule.save()
    return rule
