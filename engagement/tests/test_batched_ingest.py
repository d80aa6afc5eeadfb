"""The batched path of comments (docs/performance.md) against the one-by-one path: the same rows, the same actions.

Two accounts get the same rules and settings and the same comments, as stored webhook events: one account's
events are handled one by one (``comments_event_handle``), the other's together (``comments_events_handle_many``).
Everything they write is then compared, account ids and row ids aside.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import InstagramAccount
from accounts.tenancy import workspace_scope
from actions.models import Action, ActionType
from devtools.graph_stub import comment_webhook
from engagement.models import Comment, CommentRule, CommentRuleHit, CommentSettings, MatchMode, RuleScope
from engagement.services import comment_rule_save, comments_event_handle, comments_events_handle_many
from instaforge.correlation import correlation_bind
from instagram.models import InboundEvent, InboundEventState
from instagram.services import webhook_parse, webhook_store

MEDIA, OTHER_MEDIA = "17918195224000001", "17918195224000002"

# (text, commenter username, media): keyword replies in rotation, hide and delete rules, a post a rule is not
# on, spam, negative sentiment, a mention, the account's own comment, a language filter.
COMMENTS = [
    ("price?", "ana", MEDIA),
    ("what is the price please", "ben", MEDIA),
    ("price price", "cem", MEDIA),
    ("menu", "dan", MEDIA),
    ("menu", "eve", OTHER_MEDIA),
    ("scam link", "fay", MEDIA),
    ("buy followers cheap at www.cheap-followers.example", "gus", MEDIA),
    ("this is awful, terrible, I hate it", "hal", MEDIA),
    ("@{account} price?", "ivy", MEDIA),
    ("price?", "{account}", MEDIA),
    ("quel est le prix ? price", "jon", MEDIA),
    ("nothing to see", "kim", MEDIA),
]


def _rules_and_settings(account: InstagramAccount) -> None:
    def rule(**fields: Any) -> CommentRule:
        values: dict[str, Any] = {"name": "r", "keywords": "price", "reply_templates": "hi {username}"}
        values.update(fields)
        return comment_rule_save(rule=CommentRule(workspace=account.workspace, account=account, **values))

    with workspace_scope(account.workspace_id):
        _rules_save(rule, account)


def _rules_save(rule: Any, account: InstagramAccount) -> None:
    rule(name="prices", reply_templates="Hi {username}, 2.50!\nThanks {username}: 2.50 ({keyword})", priority=0)
    rule(name="menu here", keywords="menu", scope=RuleScope.CHOSEN_POSTS, media_ids=[MEDIA], priority=1)
    rule(name="scam", keywords="scam", reply_templates="", action_hide=True, priority=2)
    rule(name="scam gone", keywords="scam", reply_templates="", action_delete=True, priority=3)
    rule(name="french", keywords="prix", languages="fr", reply_templates="Bonjour {username}", priority=4)
    CommentSettings.objects.create(
        workspace=account.workspace,
        account=account,
        match_mode=MatchMode.ALL,
        auto_hide_spam=True,
        auto_hide_negative=True,
        auto_hide_threshold=-0.3,
    )


def _stored_events(account: InstagramAccount, *, prefix: int) -> list[InboundEvent]:
    """The comments as Meta delivers them (devtools.graph_stub's documented shape), stored, not processed."""
    for number, (text, username, media) in enumerate(COMMENTS):
        username = username.format(account=account.username)
        from_id = account.ig_user_id if username == account.username else f"fan-{username}"
        payload = comment_webhook(
            account_id=account.ig_user_id,
            media_id=media,
            comment_id=f"{prefix}{number:04d}",
            from_id=from_id,
            username=username,
            text=text.format(account=account.username),
        )
        with correlation_bind(fresh=True):  # each delivery's own, as the webhook view binds it
            webhook_store(changes=webhook_parse(body=json.dumps(payload).encode()))
    return list(InboundEvent.objects.filter(account=account).select_related("account").order_by("id"))


def _written(account: InstagramAccount) -> dict[str, Any]:
    """Everything the comments of ``account`` left behind, without ids that differ between the two accounts."""
    with workspace_scope(account.workspace_id):
        return _written_in_scope(account)


def _written_in_scope(account: InstagramAccount) -> dict[str, Any]:
    rule_names = dict(CommentRule.objects.filter(account=account).values_list("pk", "name"))
    comment_keys = dict(Comment.objects.filter(account=account).values_list("pk", "ig_comment_id"))

    def comment_of(comment_id: str) -> str:
        return comment_id[-4:]

    comments = [
        {
            "id": comment_of(comment.ig_comment_id),
            **{name: getattr(comment, name) for name in ("media_id", "parent_id", "text", "is_mention", "outcome")},
            "from": comment.from_username.replace(account.username, "ACCOUNT"),
            "sentiment": comment.sentiment,
            "language": comment.language,
            "matched_rule": rule_names.get(comment.matched_rule_id or 0),
            "event": comment.inbound_event is not None and comment.inbound_event.account_id == account.pk,
        }
        for comment in Comment.objects.filter(account=account).select_related("inbound_event").order_by("ig_comment_id")
    ]
    hits = sorted(
        (comment_of(comment_keys[hit.comment_id]), rule_names[hit.rule_id], hit.matched, hit.media_id)
        for hit in CommentRuleHit.objects.filter(comment__account=account)
    )
    actions = []
    for action in Action.all_workspaces.filter(account=account):
        payload = dict(action.payload)
        payload["comment_id"] = comment_of(payload["comment_id"])
        if payload.get("rule_id") is not None:
            payload["rule_id"] = rule_names[payload["rule_id"]]
        actions.append(
            {
                "type": action.action_type,
                "key": action.idempotency_key.rsplit(":", 1)[0] + ":" + comment_of(action.idempotency_key),
                "payload": json.dumps(payload, sort_keys=True).replace(account.username, "ACCOUNT"),
                "state": action.state,
                "source": (action.source_kind, comment_of(comment_keys[int(action.source_id)])),
                "counterpart": action.counterpart_id.replace(account.ig_user_id, "ACCOUNT"),
                "fingerprint": bool(action.text_fingerprint),
                "correlation": action.correlation_id,
            }
        )
    actions.sort(key=lambda action: str(action["key"]))
    rotations = dict(CommentRule.objects.filter(account=account).values_list("name", "rotation"))
    return {"comments": comments, "hits": hits, "actions": actions, "rotations": rotations}


@pytest.fixture
def two_accounts(make_workspace, make_account) -> tuple[InstagramAccount, InstagramAccount]:
    one_by_one = make_account(make_workspace("One by one"), username="bakery", ig_user_id="17841400000000001")
    together = make_account(make_workspace("Together"), username="bakery", ig_user_id="17841400000000002")
    for account in (one_by_one, together):
        _rules_and_settings(account)
    return one_by_one, together


def test_comments_handled_together_write_what_one_by_one_writes(two_accounts, settings) -> None:
    settings.HUMAN_TIMING = False
    one_by_one, together = two_accounts
    results_one = []
    for event in _stored_events(one_by_one, prefix=1):
        with correlation_bind(correlation_id=event.correlation_id), workspace_scope(one_by_one.workspace_id):
            results_one.append(comments_event_handle(event))
    events = _stored_events(together, prefix=2)
    results_together = comments_events_handle_many(events)
    assert [results_together[event.pk] for event in events] == results_one
    expected, got = _written(one_by_one), _written(together)
    # Each account's actions keep their own delivery's correlation id; the rest is the same.
    for action in [*expected["actions"], *got["actions"]]:
        assert action.pop("correlation")
    assert got == expected
    assert {action["type"] for action in got["actions"]} == {
        ActionType.COMMENT_REPLY,
        ActionType.HIDE_COMMENT,
        ActionType.DELETE_COMMENT,
    }
    assert {comment["outcome"] for comment in got["comments"]} == {
        "reply_planned",
        "no_rule",
        "auto_hidden",
        "own_comment",
    }
    assert got["rotations"]["prices"] >= 4  # consecutive comments took consecutive variations


def test_each_action_keeps_the_correlation_id_of_its_own_delivery(two_accounts) -> None:
    _one_by_one, together = two_accounts
    events = _stored_events(together, prefix=2)
    comments_events_handle_many(events)
    by_comment = {str(event.payload["value"]["id"]): event.correlation_id for event in events}
    assert len(set(by_comment.values())) == len(events)
    actions = list(Action.all_workspaces.filter(account=together))
    assert actions
    for action in actions:
        assert action.correlation_id == by_comment[action.payload["comment_id"]]


def test_a_batch_takes_a_bounded_number_of_queries_whatever_its_size(two_accounts) -> None:
    _one_by_one, together = two_accounts
    events = _stored_events(together, prefix=2)
    with CaptureQueriesContext(connection) as queries:
        comments_events_handle_many(events)
    # Rules, settings, stored comments, the comments, hits, a rotation per matched rule, the actions, and the
    # transaction: not a statement per comment.
    assert len(queries) <= 14, [query["sql"][:80] for query in queries]


def test_redelivered_comments_are_answered_once_and_keep_their_outcome(two_accounts) -> None:
    _one_by_one, together = two_accounts
    events = _stored_events(together, prefix=2)
    first = comments_events_handle_many(events)
    actions = Action.all_workspaces.filter(account=together).count()
    again = comments_events_handle_many(events)
    assert again == first
    assert Action.all_workspaces.filter(account=together).count() == actions
    assert Comment.all_workspaces.filter(account=together).count() == len(COMMENTS)


@pytest.mark.parametrize(
    "fields",
    [
        {"once_per_commenter": True},
        {"private_reply_templates": "Here is the menu"},
        {"action_flag": True},
        {"reply_templates": "Hi {first_name}"},
        {"reply_templates": "About {post_caption}"},
        {"scope": RuleScope.NEXT_POST},
    ],
    ids=["once per commenter", "private reply", "flag", "name", "caption", "next post unbound"],
)
def test_an_account_whose_rules_read_per_comment_is_left_to_the_one_by_one_path(two_accounts, fields) -> None:
    _one_by_one, together = two_accounts
    with workspace_scope(together.workspace_id):
        comment_rule_save(
            rule=CommentRule(
                workspace=together.workspace,
                account=together,
                name="reads",
                keywords="zzz",
                **{"reply_templates": "hi", **fields},
            )
        )
    events = _stored_events(together, prefix=2)
    assert comments_events_handle_many(events) == {}
    assert not Comment.all_workspaces.filter(account=together).exists()


def test_a_comment_stored_meanwhile_by_another_worker_sends_the_account_one_by_one(two_accounts, monkeypatch) -> None:
    """Another worker stores one of the comments between the read and the insert: nothing of the batch is kept."""
    import engagement.services as services

    _one_by_one, together = two_accounts
    events = _stored_events(together, prefix=2)
    real_verdict = services._comment_verdict

    def verdict_after_a_concurrent_store(**kwargs: Any) -> Any:
        comment = kwargs["comment"]
        if not Comment.objects.filter(account=together, ig_comment_id=comment.ig_comment_id).exists():
            Comment.all_workspaces.create(
                workspace=together.workspace, account=together, ig_comment_id=comment.ig_comment_id
            )
        return real_verdict(**kwargs)

    monkeypatch.setattr(services, "_comment_verdict", verdict_after_a_concurrent_store)
    assert comments_events_handle_many(events) == {}
    assert not Action.all_workspaces.filter(account=together).exists()
    assert not CommentRuleHit.all_workspaces.filter(comment__account=together).exists()


@pytest.mark.django_db(transaction=True)
def test_the_task_claims_the_waiting_events_handles_them_together_and_records_each(two_accounts, monkeypatch) -> None:
    """Through the task: one delivery's task takes the others waiting, each event is recorded, none taken twice."""
    from instagram.tasks import inbound_events_process

    monkeypatch.setattr("instagram.services.enqueue_coalesced", lambda *args, **kwargs: None)  # stored, not processed

    one_by_one, together = two_accounts
    waiting = _stored_events(together, prefix=2) + _stored_events(one_by_one, prefix=1)
    assert {event.state for event in waiting} == {InboundEventState.PENDING}
    outcomes = inbound_events_process([waiting[0].pk])
    assert sum(outcomes.values()) == len(waiting)
    states = set(InboundEvent.objects.values_list("state", flat=True))
    assert states == {InboundEventState.PROCESSED}
    assert InboundEvent.objects.filter(outcome="").count() == 0
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
    replies = Action.all_workspaces.filter(action_type=ActionType.COMMENT_REPLY)
    assert replies.count() == len(set(replies.values_list("account", "idempotency_key")))
    assert _written(one_by_one)["actions"] and len(_written(one_by_one)["actions"]) == len(
        _written(together)["actions"]
    )
    # Taken once: the same ids again (a redelivered task message) take and write nothing.
    assert inbound_events_process([event.pk for event in waiting]) == {"already taken": len(waiting)}
    assert set(InboundEvent.objects.values_list("attempts", flat=True)) == {1}
