"""Writes for comments and comment rules: store a comment, run the account's rules, plan their actions."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramAccount, User
from actions.models import Action, ActionType
from actions.services import action_plan
from engagement.matching import trigger_match
from engagement.models import (
    COMMENT_RULES_MAX,
    Comment,
    CommentOutcome,
    CommentRule,
    CommentRuleHit,
    CommentSettings,
    MatchMode,
    ReviewState,
    RuleScope,
)
from engagement.spam import spam_reason
from instaforge.text import language_of, person_values, sentiment_score, template_render
from instagram.errors import GraphAPIError
from instagram.events import HandlerResult
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import CommentEvent, MentionEvent, event_parse
from integrations.services import crm_event_send
from messaging.models import Conversation  # the inbox knows a commenter's name; read only
from safety.graph import graph_client

logger = logging.getLogger(__name__)

# "Private replies can be sent within 7 days of when the comment was created"
# (https://developers.facebook.com/documentation/instagram-platform/private-replies).
PRIVATE_REPLY_WINDOW = timedelta(days=7)
MEDIA_CACHE_SECONDS = 300


# --- media of an account (for choosing posts, "the next post" and {post_caption}) -------------


def account_media_fetch(*, account: InstagramAccount, max_items: int = 50) -> list[dict[str, Any]]:
    """The account's latest posts from Instagram (``GET /me/media``), cached for a few minutes.

    Raises the client's typed errors; callers show them.
    """
    key = f"engagement:media:{account.pk}"
    media = cache.get(key)
    if media is None:
        client = graph_client(account=account, max_retries=0)
        media = client.media_list(fields="id,caption,media_type,permalink,timestamp", max_items=max_items)
        cache.set(key, media, MEDIA_CACHE_SECONDS)
    return list(media)


def _post_caption(account: InstagramAccount, media_id: str) -> str:
    try:
        media = account_media_fetch(account=account)
    except GraphAPIError:
        logger.warning("Could not read the media of account %s for {post_caption}", account.pk)
        return ""
    return next((str(item.get("caption") or "") for item in media if item.get("id") == media_id), "")


# --- rules --------------------------------------------------------------------------------------


def comment_rule_save(*, rule: CommentRule, current_media_ids: list[str] | None = None) -> CommentRule:
    """Validate (a bad regex, one RE2 cannot run, or a list past the limits is refused with a message) and save.

    For "the next post", ``current_media_ids`` are the posts that exist now:
    the first comment on any other post binds the rule to that post.
    """
    if rule.scope == RuleScope.NEXT_POST and not rule.next_media_id and current_media_ids is not None:
        rule.known_media_ids = list(current_media_ids)
    rule.full_clean()
    rule.save()
    return rule


def comment_rule_active_set(*, rule: CommentRule, active: bool) -> CommentRule:
    """Switch a rule on (validated as a save is) or off (always: a rule RE2 cannot run must be switchable off)."""
    rule.is_active = active
    if active:
        return comment_rule_save(rule=rule)
    rule.save(update_fields=["is_active"])
    return rule


def comment_settings_of(*, account: InstagramAccount) -> CommentSettings:
    """The account's settings; the defaults (unsaved) when it has none yet."""
    settings = CommentSettings.objects.filter(account=account).first()
    return settings or CommentSettings(account=account, workspace_id=account.workspace_id)


def comment_settings_save(*, settings: CommentSettings) -> CommentSettings:
    settings.full_clean()
    settings.save()
    return settings


def _in_scope(rule: CommentRule, comment: Comment) -> bool:
    if rule.scope == RuleScope.MENTIONS:
        return comment.is_mention
    if comment.is_mention and not comment.media_id:
        return False
    if rule.scope == RuleScope.CHOSEN_POSTS:
        return comment.media_id in rule.media_ids
    if rule.scope == RuleScope.NEXT_POST:
        if rule.next_media_id:
            return comment.media_id == rule.next_media_id
        # A mention may sit on someone else's post: it never binds "the next post".
        if not comment.media_id or comment.is_mention or comment.media_id in rule.known_media_ids:
            return False
        # The first comment on a post that did not exist when the rule was saved binds the rule to it.
        CommentRule.objects.filter(pk=rule.pk, next_media_id="").update(next_media_id=comment.media_id)
        rule.refresh_from_db(fields=["next_media_id"])
        return comment.media_id == rule.next_media_id
    return True


def _passes_filters(rule: CommentRule, comment: Comment) -> bool:
    sentiment = comment.sentiment if comment.sentiment is not None else 0.0
    if rule.sentiment_min is not None and sentiment < rule.sentiment_min:
        return False
    if rule.sentiment_max is not None and sentiment > rule.sentiment_max:
        return False
    languages = rule.language_list
    if languages and comment.language.split("-")[0] not in {code.split("-")[0] for code in languages}:
        return False
    if rule.once_per_commenter and comment.from_id:
        earlier = CommentRuleHit.objects.filter(rule=rule, media_id=comment.media_id, from_id=comment.from_id)
        if earlier.exclude(comment=comment).exists():
            return False
    return True


def _active_rules(account: InstagramAccount) -> list[CommentRule]:
    """The rules a comment is matched against: bounded, like each rule's trigger (``engagement.matching``)."""
    rules = CommentRule.objects.filter(account=account, is_active=True).order_by("priority", "id")
    return list(rules[:COMMENT_RULES_MAX])


def comment_rules_match(
    *,
    account: InstagramAccount,
    comment: Comment,
    rules: list[CommentRule] | None = None,
    settings: CommentSettings | None = None,
) -> list[tuple[CommentRule, str]]:
    """The rules that apply to ``comment`` by priority, with what each matched: the first, or all (per account)."""
    settings = settings or comment_settings_of(account=account)
    own = bool(comment.from_id) and comment.from_id == account.ig_user_id
    matches: list[tuple[CommentRule, str]] = []
    for rule in _active_rules(account) if rules is None else rules:
        if own and rule.skip_own:
            continue
        if not _in_scope(rule, comment):
            continue
        matched = trigger_match(trigger_type=rule.trigger_type, keywords=rule.keywords, text=comment.text)
        if matched is None or not _passes_filters(rule, comment):
            continue
        matches.append((rule, matched))
        if settings.match_mode == MatchMode.FIRST:
            break
    return matches


# --- rendering ----------------------------------------------------------------------------------


def _inbox_name(account: InstagramAccount, comment: Comment) -> str:
    """The name the commenter gave Instagram, when they have written to the account (the inbox knows it)."""
    if not comment.from_username:
        return ""
    name = (
        Conversation.objects.filter(account=account, participant_username=comment.from_username)
        .exclude(participant_name="")
        .values_list("participant_name", flat=True)
        .first()
    )
    return name or ""


def comment_template_render(*, template: str, account: InstagramAccount, comment: Comment, keyword: str) -> str:
    """A reply to ``comment``: a person's placeholders (``instaforge.text``), ``{keyword}`` and ``{post_caption}``.

    A placeholder whose value is unknown is left out (``template_render``).
    """
    name_used = "{name}" in template or "{first_name}" in template
    values = person_values(username=comment.from_username, name=_inbox_name(account, comment) if name_used else "")
    values["keyword"] = keyword
    if "{post_caption}" in template:
        values["post_caption"] = _post_caption(account, comment.media_id)
    return template_render(template, values=values)


def _next_rotation(rule: CommentRule) -> int:
    """A counter per rule: consecutive comments get consecutive variations, so none repeats back to back."""
    CommentRule.objects.filter(pk=rule.pk).update(rotation=F("rotation") + 1)
    return int(CommentRule.objects.filter(pk=rule.pk).values_list("rotation", flat=True).get()) - 1


def reply_render(*, rule: CommentRule, comment: Comment, keyword: str = "", rotation: int = 0) -> str:
    templates = rule.template_list
    return comment_template_render(
        template=templates[rotation % len(templates)], account=comment.account, comment=comment, keyword=keyword
    )


# --- ingest ---------------------------------------------------------------------------------------


def comment_ingest(
    *, account: InstagramAccount, event: CommentEvent, inbound_event: InboundEvent | None = None
) -> Comment:
    """Store a comment from a ``comments`` webhook and plan what its rules (and auto-hide) ask for.

    Idempotent: the same comment id gives the same comment and at most one
    action of each kind (the idempotency keys carry the comment id).
    """
    mention = bool(account.username) and f"@{account.username.casefold()}" in event.text.casefold()
    return _comment_store_and_apply(
        account=account,
        comment_id=event.comment_id,
        defaults={
            "media_id": event.media.id or "",
            "media_product_type": event.media.media_product_type or "",
            "parent_id": event.parent_id or "",
            "from_id": event.author.id or "",
            "from_username": event.author.username or "",
            "text": event.text,
            "is_mention": mention,
        },
        inbound_event=inbound_event,
    )


def mention_ingest(
    *, account: InstagramAccount, event: MentionEvent, inbound_event: InboundEvent | None = None
) -> Comment:
    """A comment that @mentions the account (``mentions`` field, Facebook Login): its text is read from Instagram."""
    assert event.comment_id is not None
    text = ""
    try:
        client = graph_client(account=account)
        text = str(client.mentioned_comment(comment_id=event.comment_id).get("text") or "")
    except GraphAPIError as exc:
        logger.warning("Could not read mentioned comment %s: %s", event.comment_id, exc)
    return _comment_store_and_apply(
        account=account,
        comment_id=event.comment_id,
        defaults={"media_id": event.media_id, "text": text, "is_mention": True},
        inbound_event=inbound_event,
    )


def _comment_store_and_apply(
    *, account: InstagramAccount, comment_id: str, defaults: dict[str, Any], inbound_event: InboundEvent | None
) -> Comment:
    text = str(defaults.get("text") or "")
    rules = _active_rules(account)
    media_id = str(defaults.get("media_id") or "")
    if media_id and any("{post_caption}" in rule.reply_templates + rule.private_reply_templates for rule in rules):
        _post_caption(account, media_id)  # read (and cached) before the transaction: no network call inside it
    # One transaction for the comment, its rule hits and its planned actions: all or nothing, and one commit.
    with transaction.atomic():
        try:
            with transaction.atomic():
                comment, created = Comment.objects.get_or_create(
                    account=account,
                    ig_comment_id=comment_id,
                    defaults={
                        **defaults,
                        "workspace_id": account.workspace_id,
                        "sentiment": sentiment_score(text=text),
                        # Detected only when a rule of the account filters on language (costlier than sentiment).
                        "language": language_of(text=text) if any(rule.languages for rule in rules) else "",
                        "inbound_event": inbound_event,
                    },
                )
        except IntegrityError:
            comment, created = Comment.objects.get(account=account, ig_comment_id=comment_id), False
        if not created and comment.outcome:
            return comment  # a redelivery: its actions are planned already
        comment.account = account
        comment_rules_apply(account=account, comment=comment, rules=rules)
    return comment


def comment_rules_apply(
    *, account: InstagramAccount, comment: Comment, rules: list[CommentRule] | None = None
) -> Comment:
    """Run the account's rules and auto-hide on a stored comment; plan the actions. Safe to run twice."""
    own = bool(comment.from_id) and comment.from_id == account.ig_user_id
    settings = comment_settings_of(account=account)
    spam = spam_reason(text=comment.text) if settings.auto_hide_spam and not own else ""
    # A spam comment is hidden and no rule answers it: a reply or a DM to a spammer only rewards the spam.
    matches = [] if spam else comment_rules_match(account=account, comment=comment, rules=rules, settings=settings)
    for rule, matched in matches:
        CommentRuleHit.objects.get_or_create(
            comment=comment,
            rule=rule,
            defaults={
                "workspace_id": account.workspace_id,
                "media_id": comment.media_id,
                "from_id": comment.from_id,
                "matched": matched[:200],
            },
        )
        _rule_actions_plan(account=account, comment=comment, rule=rule, matched=matched)
    auto_hidden = bool(spam)
    if spam:
        _moderation_plan(account, comment, ActionType.HIDE_COMMENT, reason=f"spam: {spam} (auto-hide)")
    elif (
        settings.auto_hide_negative
        and not own
        and comment.sentiment is not None
        and comment.sentiment <= settings.auto_hide_threshold
    ):
        _moderation_plan(account, comment, ActionType.HIDE_COMMENT, reason="negative sentiment (auto-hide)")
        auto_hidden = True
    if matches:
        outcome = CommentOutcome.REPLY_PLANNED
    elif auto_hidden:
        outcome = CommentOutcome.AUTO_HIDDEN
    elif own:
        outcome = CommentOutcome.OWN_COMMENT
    else:
        outcome = CommentOutcome.NO_RULE_MATCHED
    comment.outcome = outcome
    comment.matched_rule = matches[0][0] if matches else None
    comment.save(update_fields=["outcome", "matched_rule"])
    return comment


def _private_reply_allowed(comment: Comment) -> bool:
    """Within 7 days of the comment. A backfilled comment can be old: its event carries Instagram's time of it."""
    commented_at = comment.received_at
    if comment.inbound_event is not None and comment.inbound_event.entry_time is not None:
        commented_at = min(commented_at, comment.inbound_event.entry_time)
    return timezone.now() - commented_at < PRIVATE_REPLY_WINDOW


def _rule_actions_plan(*, account: InstagramAccount, comment: Comment, rule: CommentRule, matched: str) -> None:
    rotation = _next_rotation(rule)
    common = {"rule_id": rule.pk, "matched": matched[:200]}
    if rule.template_list:
        action_plan(
            account=account,
            action_type=ActionType.COMMENT_REPLY,
            idempotency_key=f"comment_reply:{comment.ig_comment_id}",
            payload={
                "comment_id": comment.ig_comment_id,
                "commenter_id": comment.from_id,  # for the safety engine's per-commenter cooldown
                "message": reply_render(rule=rule, comment=comment, keyword=matched, rotation=rotation),
                # The other variations, for the pattern detector to vary a text repeated too often.
                "variations": [
                    reply_render(rule=rule, comment=comment, keyword=matched, rotation=other)
                    for other in range(rotation + 1, rotation + len(rule.template_list))
                ],
                **common,
            },
            source_kind="comment",
            source_id=str(comment.pk),
        )
    own = comment.from_id == account.ig_user_id
    if rule.private_template_list and comment.from_id and not own and _private_reply_allowed(comment):
        templates = rule.private_template_list
        message = comment_template_render(
            template=templates[rotation % len(templates)], account=account, comment=comment, keyword=matched
        )
        earlier_to_commenter = Action.objects.filter(
            account=account, action_type=ActionType.PRIVATE_REPLY, payload__recipient_id=comment.from_id
        ).exists()
        _action, created = action_plan(
            account=account,
            action_type=ActionType.PRIVATE_REPLY,
            idempotency_key=f"private_reply:{comment.ig_comment_id}",
            payload={
                "comment_id": comment.ig_comment_id,
                "recipient_id": comment.from_id,
                "message": message,
                **common,
            },
            source_kind="comment",
            source_id=str(comment.pk),
        )
        if created and not earlier_to_commenter:
            crm_event_send(
                workspace=account.workspace_id,
                kind="new_lead",
                data={
                    "source": "comment",
                    "account": {"id": account.ig_user_id, "username": account.username},
                    "commenter": {"id": comment.from_id, "username": comment.from_username},
                    "comment": {"id": comment.ig_comment_id, "text": comment.text, "media_id": comment.media_id},
                    "rule": {"id": rule.pk, "name": rule.name},
                    "private_reply": message,
                },
            )
    if rule.action_hide:
        _moderation_plan(account, comment, ActionType.HIDE_COMMENT, reason=f"rule {rule.name}", rule=rule)
    if rule.action_delete:
        _moderation_plan(account, comment, ActionType.DELETE_COMMENT, reason=f"rule {rule.name}", rule=rule)
    if rule.action_flag:
        comment_flag(comment=comment, reason=f"rule “{rule.name}” matched “{matched}”")


def _moderation_plan(
    account: InstagramAccount, comment: Comment, action_type: str, *, reason: str, rule: CommentRule | None = None
) -> Action:
    action, _ = action_plan(
        account=account,
        action_type=action_type,
        idempotency_key=f"{action_type}:{comment.ig_comment_id}",
        payload={
            "comment_id": comment.ig_comment_id,
            "media_id": comment.media_id,
            "parent_id": comment.parent_id,
            "reason": reason,
            "rule_id": rule.pk if rule else None,
        },
        source_kind="comment",
        source_id=str(comment.pk),
    )
    return action


# --- review by a person ---------------------------------------------------------------------------


def comment_flag(*, comment: Comment, reason: str) -> Comment:
    """Put a comment on the workspace's review list (once) and tell the CRM (``comment_flagged``)."""
    flagged = (
        Comment.objects.filter(pk=comment.pk)
        .exclude(review_state=ReviewState.FLAGGED)
        .update(review_state=ReviewState.FLAGGED, flagged_at=timezone.now(), reviewed_by=None)
    )
    comment.refresh_from_db(fields=["review_state", "flagged_at", "reviewed_by"])
    if flagged:
        account = comment.account
        crm_event_send(
            workspace=comment.workspace_id,
            kind="comment_flagged",
            data={
                "account": {"id": account.ig_user_id, "username": account.username},
                "commenter": {"id": comment.from_id, "username": comment.from_username},
                "comment": {"id": comment.ig_comment_id, "text": comment.text, "media_id": comment.media_id},
                "reason": reason,
            },
        )
    return comment


def comment_review(*, comment: Comment, decision: str, user: User) -> Action | None:
    """A person's decision on a comment: ``resolve`` (nothing to do), ``hide``, ``unhide`` or ``delete``.

    Moderation goes through the ledger and the safety gate like any action.
    Hiding again after an unhide plans a new action (the key counts the decisions).
    """
    action_types = {
        "hide": ActionType.HIDE_COMMENT,
        "unhide": ActionType.UNHIDE_COMMENT,
        "delete": ActionType.DELETE_COMMENT,
    }
    if decision != "resolve" and decision not in action_types:
        raise ValueError(f"unknown review decision {decision!r}")
    action = None
    if decision in action_types:
        action_type = action_types[decision]
        earlier = Action.objects.filter(account=comment.account, source_kind="comment", source_id=str(comment.pk))
        action, _ = action_plan(
            account=comment.account,
            action_type=action_type,
            idempotency_key=f"{action_type}:{comment.ig_comment_id}:review{earlier.count()}",
            payload={
                "comment_id": comment.ig_comment_id,
                "media_id": comment.media_id,
                "parent_id": comment.parent_id,
                "reason": f"decided by {user.email}",
            },
            source_kind="comment",
            source_id=str(comment.pk),
        )
    Comment.objects.filter(pk=comment.pk).update(review_state=ReviewState.RESOLVED, reviewed_by=user)
    comment.refresh_from_db(fields=["review_state", "reviewed_by"])
    return action


# --- webhook handlers ---------------------------------------------------------------------------------


def comments_event_handle(event: InboundEvent) -> HandlerResult:
    """Handler for the ``comments`` webhook field (with Instagram Login, @mentions arrive here too)."""
    assert event.account is not None
    parsed = event_parse(field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time)
    if not isinstance(parsed, CommentEvent):
        return HandlerResult(InboundEventState.IGNORED, f"not a comment: {type(parsed).__name__}")
    comment = comment_ingest(account=event.account, event=parsed, inbound_event=event)
    return HandlerResult(InboundEventState.PROCESSED, comment.get_outcome_display())


def mentions_event_handle(event: InboundEvent) -> HandlerResult:
    """Handler for the ``mentions`` webhook field (Facebook Login): a comment mentioning the account runs its rules."""
    assert event.account is not None
    parsed = event_parse(field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time)
    if not isinstance(parsed, MentionEvent):
        return HandlerResult(InboundEventState.IGNORED, f"not a mention: {type(parsed).__name__}")
    if parsed.is_caption_mention:
        return HandlerResult(InboundEventState.IGNORED, "a mention in a caption: no comment to act on")
    comment = mention_ingest(account=event.account, event=parsed, inbound_event=event)
    return HandlerResult(InboundEventState.PROCESSED, comment.get_outcome_display())
