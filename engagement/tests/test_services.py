"""Rules against stored comments: scope, filters, order, actions planned on the ledger, review and auto-hide."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from actions.models import Action
from engagement.models import Comment, CommentOutcome, CommentRule, CommentRuleHit, MatchMode, ReviewState
from engagement.services import comment_ingest, comment_review, comment_rule_save, comment_settings_of
from instagram.parsing import CommentAuthor, CommentEvent, CommentMedia
from integrations.models import WebhookDelivery
from integrations.services import endpoint_create

_ids = iter(range(1, 100_000))


def event(text: str, *, media: str = "m1", author: str = "fan", author_id: str | None = None) -> CommentEvent:
    return CommentEvent(
        webhook_field="comments",
        entry_id="acct",
        entry_time=None,
        comment_id=f"c{next(_ids)}",
        text=text,
        author=CommentAuthor(id=author_id or f"id-{author}", username=author),
        media=CommentMedia(id=media),
        parent_id=None,
        is_live=False,
    )


@pytest.fixture
def account(make_account, workspace, in_workspace):
    """The services run in the workspace's scope, as the webhook task and the views that call them do."""
    return make_account(workspace, username="bakery")


def rule(account, **fields: Any) -> CommentRule:
    values: dict[str, Any] = {"name": "r", "keywords": "price", "reply_templates": "hi {username}"}
    values.update(fields)
    return comment_rule_save(rule=CommentRule(workspace=account.workspace, account=account, **values))


def planned(comment: Comment) -> dict[str, dict[str, Any]]:
    actions = Action.all_workspaces.filter(source_kind="comment", source_id=str(comment.pk))
    return {action.action_type: action.payload for action in actions}


def test_a_private_reply_over_instagrams_1000_bytes_is_refused_on_save(account) -> None:
    with pytest.raises(ValidationError) as error:
        rule(account, private_reply_templates="Hi!\n" + "Ça coûte 10 € 😊 " * 60)  # 900 characters, 1,500 bytes
    assert "A private reply is at most 1,000 bytes of UTF-8" in error.value.message_dict["private_reply_templates"][0]


def test_a_regex_rule_with_a_bad_pattern_is_refused_on_save(account) -> None:
    with pytest.raises(ValidationError) as error:
        rule(account, trigger_type="regex", keywords="(price")
    assert error.value.message_dict["keywords"] == [
        "This is not a valid regular expression (RE2 syntax): missing ): (price."
    ]
    with pytest.raises(ValidationError) as error:
        rule(account, reply_templates="")
    assert "Give the rule something to do" in error.value.message_dict["reply_templates"][0]
    with pytest.raises(ValidationError) as error:
        rule(account, sentiment_min=0.5, sentiment_max=0.1)
    assert "sentiment_max" in error.value.message_dict


def test_own_comments_are_skipped_unless_the_rule_says_otherwise(account) -> None:
    rule(account)
    own = comment_ingest(account=account, event=event("price?", author="bakery", author_id=account.ig_user_id))
    assert own.outcome == CommentOutcome.OWN_COMMENT and not planned(own)
    rule(account, name="own too", skip_own=False, keywords="menu", priority=1)
    own_menu = comment_ingest(account=account, event=event("menu", author="bakery", author_id=account.ig_user_id))
    assert own_menu.outcome == CommentOutcome.REPLY_PLANNED


def test_first_match_and_all_match(account) -> None:
    first = rule(account, name="first", priority=1, reply_templates="one")
    second = rule(account, name="second", priority=2, reply_templates="two", action_flag=True)
    comment = comment_ingest(account=account, event=event("price"))
    assert comment.matched_rule == first
    assert list(CommentRuleHit.all_workspaces.filter(comment=comment).values_list("rule", flat=True)) == [first.pk]
    assert planned(comment)["comment_reply"]["message"] == "one"

    settings = comment_settings_of(account=account)
    settings.match_mode = MatchMode.ALL
    settings.save()
    both = comment_ingest(account=account, event=event("PRICE"))
    hits = list(CommentRuleHit.all_workspaces.filter(comment=both).values_list("rule", flat=True))
    assert hits == [first.pk, second.pk]
    both.refresh_from_db()
    assert both.review_state == ReviewState.FLAGGED  # the second rule's action ran too
    assert planned(both)["comment_reply"]["message"] == "one"  # one public reply per comment


def test_scope_chosen_posts_next_post_and_mentions(account) -> None:
    chosen = rule(account, name="chosen", scope="chosen_posts", media_ids=["m2"], reply_templates="chosen")
    assert comment_ingest(account=account, event=event("price", media="m1")).matched_rule is None
    assert comment_ingest(account=account, event=event("price", media="m2")).matched_rule == chosen
    chosen.delete()

    upcoming = CommentRule(
        workspace=account.workspace, account=account, name="next", keywords="price", scope="next_post"
    )
    upcoming.reply_templates = "next"
    comment_rule_save(rule=upcoming, current_media_ids=["m1", "m2"])
    assert comment_ingest(account=account, event=event("price", media="m2")).matched_rule is None
    assert comment_ingest(account=account, event=event("price", media="m3")).matched_rule == upcoming
    upcoming.refresh_from_db()
    assert upcoming.next_media_id == "m3"
    assert comment_ingest(account=account, event=event("price", media="m4")).matched_rule is None  # only that post
    upcoming.delete()

    mentions = rule(account, name="mentions", scope="mentions", trigger_type="any", keywords="love")
    plain = comment_ingest(account=account, event=event("love it"))
    mention = comment_ingest(account=account, event=event("love this, @Bakery!"))
    assert plain.matched_rule is None
    assert mention.is_mention and mention.matched_rule == mentions


def test_once_per_commenter_per_post(account) -> None:
    rule(account, once_per_commenter=True)
    assert comment_ingest(account=account, event=event("price", author="ana")).matched_rule is not None
    assert comment_ingest(account=account, event=event("price again", author="ana")).matched_rule is None
    assert comment_ingest(account=account, event=event("price", author="ana", media="m2")).matched_rule is not None
    assert comment_ingest(account=account, event=event("price", author="bob")).matched_rule is not None


def test_sentiment_range_and_language_filters(account) -> None:
    happy = rule(account, name="happy", keywords="cake", sentiment_min=0.3, reply_templates="thanks!")
    angry = rule(account, name="angry", keywords="cake", sentiment_max=-0.3, action_flag=True, reply_templates="")
    assert comment_ingest(account=account, event=event("I love this cake, amazing!")).matched_rule == happy
    assert comment_ingest(account=account, event=event("This cake is terrible, I hate it")).matched_rule == angry
    assert comment_ingest(account=account, event=event("a cake")).matched_rule is None
    happy.delete()
    angry.delete()

    portuguese = rule(account, name="pt", keywords="bolo", languages="pt")
    assert comment_ingest(account=account, event=event("Quanto custa este bolo de chocolate?")).matched_rule == (
        portuguese
    )
    assert (
        comment_ingest(account=account, event=event("bolo is how we call the cake in my language")).matched_rule is None
    )


def test_reply_variations_rotate_and_fill_variables(account) -> None:
    rule(
        account,
        trigger_type="any",
        keywords="preço, price",
        reply_templates="A {username} {keyword}\nB {username}, {first_name}!\nC {keyword}",
    )
    messages = [
        planned(comment_ingest(account=account, event=event(text, author="ana")))["comment_reply"]["message"]
        for text in ("Preço?", "price", "PRICE", "preco")
    ]
    assert messages == ["A @ana preço", "B @ana!", "C price", "A @ana preço"]
    assert all(first != second for first, second in itertools.pairwise(messages))


def test_private_reply_plans_a_dm_once_and_tells_the_crm_about_a_new_lead(account, workspace) -> None:
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/crm", event_kinds=["new_lead"])
    rule(account, reply_templates="", private_reply_templates="Hi {username}! Prices: …")
    comment = comment_ingest(account=account, event=event("price", author="ana"))
    payload = planned(comment)["private_reply"]
    assert payload["comment_id"] == comment.ig_comment_id
    assert payload["recipient_id"] == "id-ana"
    assert payload["message"] == "Hi @ana! Prices: …"
    assert WebhookDelivery.all_workspaces.filter(event_kind="new_lead").count() == 1
    comment_ingest(account=account, event=event("price again", author="ana"))  # not a new lead any more
    assert WebhookDelivery.all_workspaces.filter(event_kind="new_lead").count() == 1


def test_hide_delete_and_flag_actions(account, workspace) -> None:
    endpoint_create(workspace=workspace, url="http://127.0.0.1:9/crm", event_kinds=["comment_flagged"])
    rule(account, keywords="spam", reply_templates="", action_hide=True, action_delete=True, action_flag=True)
    comment = comment_ingest(account=account, event=event("buy followers SPAM"))
    assert set(planned(comment)) == {"hide_comment", "delete_comment"}
    comment.refresh_from_db()
    assert comment.review_state == ReviewState.FLAGGED
    delivery = WebhookDelivery.all_workspaces.get(event_kind="comment_flagged")
    assert '"text":"buy followers SPAM"' in delivery.body


def test_negative_comments_are_hidden_automatically_when_the_account_says_so(account) -> None:
    negative = "This is the worst bakery ever, disgusting and awful"
    assert "hide_comment" not in planned(comment_ingest(account=account, event=event(negative)))
    settings = comment_settings_of(account=account)
    settings.auto_hide_negative = True
    settings.auto_hide_threshold = -0.5
    settings.save()
    hidden = comment_ingest(account=account, event=event(negative))
    assert hidden.outcome == CommentOutcome.AUTO_HIDDEN
    assert "negative sentiment" in planned(hidden)["hide_comment"]["reason"]
    assert "hide_comment" not in planned(comment_ingest(account=account, event=event("Lovely cakes!")))


def test_a_redelivered_comment_plans_nothing_new(account) -> None:
    rule(account, private_reply_templates="dm", action_hide=True)
    same = event("price")
    first = comment_ingest(account=account, event=same)
    again = comment_ingest(account=account, event=same)
    assert first.pk == again.pk
    assert Action.all_workspaces.count() == 3
    assert CommentRule.all_workspaces.get().rotation == 1


def test_a_person_reviews_a_flagged_comment(account, make_user) -> None:
    rule(account, keywords="refund", reply_templates="", action_flag=True)
    comment = comment_ingest(account=account, event=event("I want a refund"))
    user = make_user()
    action = comment_review(comment=comment, decision="hide", user=user)
    assert action is not None and action.action_type == "hide_comment"
    assert comment.review_state == ReviewState.RESOLVED
    unhide = comment_review(comment=comment, decision="unhide", user=user)
    again = comment_review(comment=comment, decision="hide", user=user)
    assert unhide is not None and again is not None and again.pk != action.pk
    with pytest.raises(ValueError):
        comment_review(comment=comment, decision="explode", user=user)


def test_no_private_reply_to_a_comment_older_than_seven_days(account) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from instagram.models import InboundEvent

    rule(account, reply_templates="", private_reply_templates="dm", action_flag=True)
    old = event("price")
    inbound = InboundEvent.objects.create(
        account=account,
        workspace=account.workspace,
        field="comments",
        entry_id=account.ig_user_id,
        entry_time=timezone.now() - timedelta(days=8),
        object_type="instagram",
        payload={},
        dedupe_key="comments:old",
    )
    comment = comment_ingest(account=account, event=old, inbound_event=inbound)
    assert "private_reply" not in planned(comment)
    assert comment.matched_rule is not None


def test_spam_comments_are_hidden_and_answered_by_no_rule_when_the_account_says_so(account) -> None:
    rule(account, keywords="followers, link, price")
    spam = "Get free followers now!!"
    assert "comment_reply" in planned(comment_ingest(account=account, event=event(spam)))  # off by default
    settings = comment_settings_of(account=account)
    settings.auto_hide_spam = True
    settings.save()
    for text, why in (
        (spam, "spam phrase “free followers”"),
        ("Nice! Price list at www.cheap-deals.shop/now", "a link (www.cheap-deals.shop/now)"),
        ("@ana @bo @cy @dee look at this price", "4 accounts tagged at once"),
    ):
        hidden = comment_ingest(account=account, event=event(text))
        actions = planned(hidden)
        assert set(actions) == {"hide_comment"}, text
        assert actions["hide_comment"]["reason"] == f"spam: {why} (auto-hide)"
        assert (hidden.outcome, hidden.matched_rule) == (CommentOutcome.AUTO_HIDDEN, None)
    # Not spam: a plain question, an e-mail-free mention of one friend, the account's own link.
    assert set(planned(comment_ingest(account=account, event=event("@ana what is the price?")))) == {"comment_reply"}
    own = event("Price list: bakery.shop/menu", author="bakery", author_id=account.ig_user_id)
    assert "hide_comment" not in planned(comment_ingest(account=account, event=own))
