"""Writes for comments and comment rules: store a comment, run the account's rules, plan their actions."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramAccount, User
from accounts.tenancy import workspace_scope
from actions.models import Action, ActionType
from actions.services import action_new, action_plan, actions_plan_many
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
from instaforge.batching import batch_read
from instaforge.correlation import correlation_id, correlation_new
from instaforge.text import language_of, person_values, sentiment_score, template_render
from instagram.errors import GraphAPIError
from instagram.events import HandlerResult
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import CommentEvent, MalformedEvent, MentionEvent, event_parse
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

    def load() -> CommentSettings:
        settings = CommentSettings.objects.filter(account=account).first()
        return settings or CommentSettings(account=account, workspace_id=account.workspace_id)

    return batch_read(("comment_settings", account.pk), load)


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
    return batch_read(("comment_rules", account.pk), lambda: list(rules[:COMMENT_RULES_MAX]))


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


@dataclass(frozen=True)
class _Verdict:
    """What the rules and auto-hide make of a comment, before anything is written."""

    matches: list[tuple[CommentRule, str]]
    hide_reason: str  # auto-hide's reason ("" when it does not hide)
    outcome: str


def _comment_verdict(
    *, account: InstagramAccount, comment: Comment, rules: list[CommentRule] | None, settings: CommentSettings
) -> _Verdict:
    own = bool(comment.from_id) and comment.from_id == account.ig_user_id
    spam = spam_reason(text=comment.text) if settings.auto_hide_spam and not own else ""
    # A spam comment is hidden and no rule answers it: a reply or a DM to a spammer only rewards the spam.
    matches = [] if spam else comment_rules_match(account=account, comment=comment, rules=rules, settings=settings)
    hide_reason = ""
    if spam:
        hide_reason = f"spam: {spam} (auto-hide)"
    elif (
        settings.auto_hide_negative
        and not own
        and comment.sentiment is not None
        and comment.sentiment <= settings.auto_hide_threshold
    ):
        hide_reason = "negative sentiment (auto-hide)"
    if matches:
        outcome = CommentOutcome.REPLY_PLANNED
    elif hide_reason:
        outcome = CommentOutcome.AUTO_HIDDEN
    elif own:
        outcome = CommentOutcome.OWN_COMMENT
    else:
        outcome = CommentOutcome.NO_RULE_MATCHED
    return _Verdict(matches=matches, hide_reason=hide_reason, outcome=outcome)


def comment_rules_apply(
    *, account: InstagramAccount, comment: Comment, rules: list[CommentRule] | None = None
) -> Comment:
    """Run the account's rules and auto-hide on a stored comment; plan the actions. Safe to run twice."""
    verdict = _comment_verdict(
        account=account, comment=comment, rules=rules, settings=comment_settings_of(account=account)
    )
    for rule, matched in verdict.matches:
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
    if verdict.hide_reason:
        _moderation_plan(account, comment, ActionType.HIDE_COMMENT, reason=verdict.hide_reason)
    comment.outcome = verdict.outcome
    comment.matched_rule = verdict.matches[0][0] if verdict.matches else None
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
            payload=_reply_payload(comment=comment, rule=rule, matched=matched, rotation=rotation),
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


def _reply_payload(*, comment: Comment, rule: CommentRule, matched: str, rotation: int) -> dict[str, Any]:
    """A public reply's payload: the variation ``rotation`` picks, and the others."""
    return {
        "comment_id": comment.ig_comment_id,
        "commenter_id": comment.from_id,  # for the safety engine's per-commenter cooldown
        "message": reply_render(rule=rule, comment=comment, keyword=matched, rotation=rotation),
        # The other variations, for the pattern detector to vary a text repeated too often.
        "variations": [
            reply_render(rule=rule, comment=comment, keyword=matched, rotation=other)
            for other in range(rotation + 1, rotation + len(rule.template_list))
        ],
        "rule_id": rule.pk,
        "matched": matched[:200],
    }


def _moderation_payload(comment: Comment, *, reason: str, rule: CommentRule | None) -> dict[str, Any]:
    return {
        "comment_id": comment.ig_comment_id,
        "media_id": comment.media_id,
        "parent_id": comment.parent_id,
        "reason": reason,
        "rule_id": rule.pk if rule else None,
    }


def _moderation_plan(
    account: InstagramAccount, comment: Comment, action_type: str, *, reason: str, rule: CommentRule | None = None
) -> Action:
    action, _ = action_plan(
        account=account,
        action_type=action_type,
        idempotency_key=f"{action_type}:{comment.ig_comment_id}",
        payload=_moderation_payload(comment, reason=reason, rule=rule),
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


# Placeholders whose value is read from the database or Instagram when a reply is written.
_READING_PLACEHOLDERS = ("{name}", "{first_name}", "{post_caption}")


def _rules_batchable(rules: list[CommentRule]) -> bool:
    """Whether an account's comments can take the batched path: its rules read and write nothing per comment.

    Left to the one-by-one path: a "next post" rule not bound yet (the first comment binds it), "once per
    commenter" (reads earlier hits), private replies (read earlier ones, tell the CRM), flagging (tells the CRM),
    and templates with a person's name or the post's caption (read the inbox or Instagram).
    """
    for rule in rules:
        if rule.scope == RuleScope.NEXT_POST and not rule.next_media_id:
            return False
        if rule.once_per_commenter or rule.private_template_list or rule.action_flag:
            return False
        if any(placeholder in rule.reply_templates for placeholder in _READING_PLACEHOLDERS):
            return False
    return True


def comments_events_handle_many(events: list[InboundEvent]) -> dict[int, HandlerResult]:
    """The batched path of the ``comments`` field (docs/performance.md): each account's new comments together.

    For each account whose rules allow it (``_rules_batchable``): its rules and settings read once, then in one
    transaction the comments already stored read in one query, the new ones inserted in one, their rule hits in
    one, each matched rule's rotation advanced by one ``UPDATE … RETURNING``, and all their actions planned in
    one (``actions_plan_many``). The same verdicts, rows and actions as ``comments_event_handle`` one by one
    (``engagement/tests/test_batched_ingest.py``). Returns the results of the events handled; the others (not
    a comment, malformed, a stored comment without an outcome, an account not batchable, a conflict with a
    concurrent worker) are left to the one-by-one path.
    """
    by_account: dict[int, list[tuple[InboundEvent, CommentEvent]]] = {}
    for event in events:
        assert event.account is not None
        try:
            parsed = event_parse(
                field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time
            )
        except MalformedEvent:
            continue
        if isinstance(parsed, CommentEvent):
            by_account.setdefault(event.account.pk, []).append((event, parsed))
    results: dict[int, HandlerResult] = {}
    for group in by_account.values():
        account = group[0][0].account
        assert account is not None
        with workspace_scope(account.workspace_id):
            rules = _active_rules(account)
            if not _rules_batchable(rules):
                continue
            try:
                results.update(_comments_ingest_many(account=account, group=group, rules=rules))
            except IntegrityError:
                # A concurrent worker stored one of these comments (or planned one of these keys) meanwhile:
                # all of this account's were rolled back, and are handled one by one.
                logger.info("Comments of account %s stored concurrently: handled one by one", account.pk)
    return results


def _comments_ingest_many(
    *, account: InstagramAccount, group: list[tuple[InboundEvent, CommentEvent]], rules: list[CommentRule]
) -> dict[int, HandlerResult]:
    settings = comment_settings_of(account=account)
    languages = any(rule.languages for rule in rules)
    results: dict[int, HandlerResult] = {}
    with transaction.atomic():
        stored = dict(
            Comment.objects.filter(
                account=account, ig_comment_id__in=[parsed.comment_id for _event, parsed in group]
            ).values_list("ig_comment_id", "outcome")
        )
        fresh: list[tuple[InboundEvent, Comment]] = []
        taken: set[str] = set()
        for event, parsed in group:
            comment_id = parsed.comment_id
            if comment_id in stored:
                if stored[comment_id]:  # a redelivery: its actions are planned already
                    outcome = CommentOutcome(stored[comment_id]).label
                    results[event.pk] = HandlerResult(InboundEventState.PROCESSED, str(outcome))
                continue  # stored without an outcome: one by one
            if comment_id in taken:
                continue  # the same comment twice in one batch: the second, one by one, finds it stored
            taken.add(comment_id)
            text = parsed.text
            comment = Comment(
                workspace_id=account.workspace_id,
                account=account,
                ig_comment_id=comment_id,
                media_id=parsed.media.id or "",
                media_product_type=parsed.media.media_product_type or "",
                parent_id=parsed.parent_id or "",
                from_id=parsed.author.id or "",
                from_username=parsed.author.username or "",
                text=text,
                is_mention=bool(account.username) and f"@{account.username.casefold()}" in text.casefold(),
                sentiment=sentiment_score(text=text),
                language=language_of(text=text) if languages else "",
                inbound_event=event,
            )
            fresh.append((event, comment))
        if not fresh:
            return results
        verdicts = []
        for _event, comment in fresh:
            verdict = _comment_verdict(account=account, comment=comment, rules=rules, settings=settings)
            comment.outcome = verdict.outcome
            comment.matched_rule = verdict.matches[0][0] if verdict.matches else None
            verdicts.append(verdict)
        Comment.objects.bulk_create([comment for _event, comment in fresh])
        hits = [
            CommentRuleHit(
                workspace_id=account.workspace_id,
                comment=comment,
                rule=rule,
                media_id=comment.media_id,
                from_id=comment.from_id,
                matched=matched[:200],
            )
            for (_event, comment), verdict in zip(fresh, verdicts, strict=True)
            for rule, matched in verdict.matches
        ]
        CommentRuleHit.objects.bulk_create(hits)
        rotations = _rotations_take(Counter(hit.rule_id for hit in hits))
        actions: dict[str, Action] = {}  # by idempotency key: the first planned wins, as one by one
        for (event, comment), verdict in zip(fresh, verdicts, strict=True):
            planned: list[tuple[ActionType, str, dict[str, Any]]] = []
            for rule, matched in verdict.matches:
                rotation = rotations[rule.pk]
                rotations[rule.pk] += 1
                if rule.template_list:
                    payload = _reply_payload(comment=comment, rule=rule, matched=matched, rotation=rotation)
                    planned.append((ActionType.COMMENT_REPLY, f"comment_reply:{comment.ig_comment_id}", payload))
                reason = f"rule {rule.name}"
                for wanted, moderation in (
                    (rule.action_hide, ActionType.HIDE_COMMENT),
                    (rule.action_delete, ActionType.DELETE_COMMENT),
                ):
                    if wanted:
                        payload = _moderation_payload(comment, reason=reason, rule=rule)
                        planned.append((moderation, f"{moderation}:{comment.ig_comment_id}", payload))
            if verdict.hide_reason:
                payload = _moderation_payload(comment, reason=verdict.hide_reason, rule=None)
                planned.append((ActionType.HIDE_COMMENT, f"{ActionType.HIDE_COMMENT}:{comment.ig_comment_id}", payload))
            for action_type, key, payload in planned:
                if key not in actions:
                    actions[key] = action_new(
                        account=account,
                        action_type=action_type,
                        idempotency_key=key,
                        payload=payload,
                        source_kind="comment",
                        source_id=str(comment.pk),
                        # Its delivery's, as the one-by-one path binds it (a new one for an event stored without).
                        correlation=event.correlation_id or correlation_id() or correlation_new(),
                    )
            results[event.pk] = HandlerResult(InboundEventState.PROCESSED, comment.get_outcome_display())
        actions_plan_many(list(actions.values()))
    return results


def _rotations_take(counts: Counter[int]) -> dict[int, int]:
    """Advance each rule's rotation by the comments it matched; {rule id: the first of the rotations taken}.

    ``_next_rotation`` for many comments at once: one ``UPDATE … RETURNING`` per rule, so concurrent workers
    take different rotations.
    """
    table = connection.ops.quote_name(CommentRule._meta.db_table)
    first: dict[int, int] = {}
    with connection.cursor() as cursor:
        for rule_id, count in sorted(counts.items()):
            cursor.execute(
                f"UPDATE {table} SET rotation = rotation + %s WHERE id = %s RETURNING rotation",  # noqa: S608
                [count, rule_id],
            )
            first[rule_id] = int(cursor.fetchone()[0]) - count
    return first


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
