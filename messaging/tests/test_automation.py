"""The DM pipeline through the real webhook path: rules, welcome, story triggers, hand-over, spam,
the 24-hour window, delays and webhook steps, AI replies against a local fake OpenAI-compatible
server (success, timeout, error, blocked word), and the event hook."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import InstagramAccount
from accounts.tenancy import workspace_scope
from accounts.vault import token_encrypt
from actions.models import Action
from messaging import events
from messaging.automation import Why, automated_message_send, flow_runs_resume_due, flow_save
from messaging.models import (
    AutomatedReply,
    Conversation,
    ConversationEvent,
    ConversationState,
    DmRule,
    Flow,
    FlowRun,
    FlowRunStatus,
    MessageAnalysis,
    MessagingSettings,
    TriggerKind,
)
from messaging.tests.conftest import deliver, message_item


def rule(account: InstagramAccount, **fields: Any) -> DmRule:
    defaults: dict[str, Any] = {"name": "r", "reply_templates": "Hello {username}!"}
    defaults.update(fields)
    return DmRule.all_workspaces.create(workspace_id=account.workspace_id, account=account, **defaults)


def planned(account: InstagramAccount) -> list[dict[str, Any]]:
    return [action.payload for action in Action.all_workspaces.filter(account=account).order_by("id")]


def say(account: InstagramAccount, mid: str, text: str = "", **item: Any) -> None:
    body = message_item(account, mid=mid, text=text)
    body["message"].update(item)
    event = deliver(account, body)
    assert event.state == "processed", event.outcome


def conversation() -> Conversation:
    return Conversation.all_workspaces.get()


def known_follower(account: InstagramAccount) -> Conversation:
    """The conversation with the follower of ``message_item``, username known (so no profile read is queued)."""
    return Conversation.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        participant_igsid="1234567890123456",
        participant_username="fan",
    )


def test_a_keyword_rule_answers_with_a_variation_and_records_why(account: InstagramAccount) -> None:
    rule(account, name="Prices", keywords="price, preço", reply_templates="Croissants are 2.50\nA croissant: 2.50")
    say(account, "m1", "Qual o PRECO?")
    [payload] = planned(account)
    assert payload["message"] in ("Croissants are 2.50", "A croissant: 2.50")
    assert payload["human_agent"] is False and payload["automated"] is True
    why = AutomatedReply.all_workspaces.get()
    assert why.generator == "rule" and why.rule is not None and why.rule.name == "Prices"
    assert "keyword “preço”" in why.trigger
    analysis = MessageAnalysis.all_workspaces.get()
    assert (analysis.intent, analysis.confidence) == ("pricing", 0.9)
    # A redelivery plans nothing new.
    say(account, "m1", "Qual o PRECO?")
    assert len(planned(account)) == 1


def test_welcome_with_ice_breaker_buttons_then_an_intent_rule(account: InstagramAccount) -> None:
    rule(
        account,
        name="Welcome",
        trigger_kind=TriggerKind.NEW_CONVERSATION,
        reply_templates="Welcome!",
        quick_replies="Prices\nOpening hours",
    )
    rule(account, name="Support", trigger_kind=TriggerKind.INTENT, intent="support", reply_templates="On it.")
    say(account, "m1", "my order is late")
    welcome, support = planned(account)
    assert welcome["message"] == "Welcome!"
    assert welcome["quick_replies"] == [
        {"title": "Prices", "payload": "PRICES"},
        {"title": "Opening hours", "payload": "OPENING_HOURS"},
    ]
    assert support["message"] == "On it."
    say(account, "m2", "hello again")  # not new any more: no second welcome
    assert len(planned(account)) == 2
    assert list(ConversationEvent.all_workspaces.values_list("kind", flat=True)) == ["new_conversation"]


def test_story_reply_and_story_mention_triggers(account: InstagramAccount, make_account) -> None:
    rule(account, name="Story reply", trigger_kind=TriggerKind.STORY_REPLY, reply_templates="Glad you liked it")
    rule(account, name="Mention", trigger_kind=TriggerKind.STORY_MENTION, reply_templates="Thanks for the mention")
    say(account, "m1", "love this", reply_to={"story": {"id": "1790", "url": "https://cdn.example/s.jpg"}})
    say(account, "m2", attachments=[{"type": "story_mention", "payload": {"url": "https://cdn.example/m.jpg"}}])
    assert [payload["message"] for payload in planned(account)] == ["Glad you liked it", "Thanks for the mention"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Can I talk to a HUMAN please", "they asked for a person"),
        ("This is the worst, I am so angry and disappointed", "negative sentiment"),
    ],
)
def test_hand_over_stops_automation_and_notifies_members(
    account: InstagramAccount, text: str, reason: str, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    rule(account, keywords="please, worst", reply_templates="auto")
    known_follower(account)
    with django_capture_on_commit_callbacks(execute=True):
        say(account, "m1", text)
    assert conversation().state == ConversationState.WAITING
    assert planned(account) == []
    event = ConversationEvent.all_workspaces.get(kind="hand_over")
    assert reason in event.data["reason"]
    assert len(mailoutbox) == 1 and "A person is needed" in mailoutbox[0].subject
    # Until a person sets it back to automated, nothing automated is sent.
    say(account, "m2", "please")
    assert planned(account) == []
    Conversation.all_workspaces.update(state=ConversationState.AUTOMATED)
    say(account, "m3", "please")
    assert [payload["message"] for payload in planned(account)] == ["auto"]


def test_low_confidence_hands_over_when_enabled(account: InstagramAccount) -> None:
    MessagingSettings.all_workspaces.create(workspace_id=account.workspace_id, handover_confidence_below=0.4)
    say(account, "m1", "hmm")
    assert conversation().state == ConversationState.WAITING
    assert "low intent confidence" in ConversationEvent.all_workspaces.get(kind="hand_over").data["reason"]


def test_spam_is_not_answered(account: InstagramAccount) -> None:
    rule(account, trigger_kind=TriggerKind.INTENT, intent="spam", reply_templates="never")
    say(account, "m1", "Buy followers cheap, click this link")
    assert planned(account) == []
    assert "spam" in ConversationEvent.all_workspaces.get(kind="automation_skipped").data["reason"]


def test_no_automated_message_outside_the_24_hour_window(account: InstagramAccount, make_conversation) -> None:
    old = make_conversation(last_inbound_at=timezone.now() - timedelta(hours=25))
    with workspace_scope(account.workspace_id):
        sent = automated_message_send(conversation=old, text="late", key="k", why=Why(trigger="t", generator="rule"))
    assert sent is None and not Action.all_workspaces.exists()
    assert "outside the 24-hour window" in ConversationEvent.all_workspaces.get().data["reason"]


def make_flow(account: InstagramAccount, steps: list[dict[str, Any]]) -> Flow:
    with workspace_scope(account.workspace_id):
        flow, _ = flow_save(
            flow=Flow(workspace_id=account.workspace_id, account=account, name="F", keywords="start"), steps=steps
        )
    return flow


class FakeServer:
    """A tiny local HTTP server: an OpenAI-compatible /v1/chat/completions, or a flow's webhook."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "ok"
        self.content = "We open at 8, see you soon!"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if server.mode == "slow":
                    time.sleep(1.5)
                status = 500 if server.mode == "error" else 200
                if self.path.startswith("/v1/chat/completions"):
                    answer: Any = {"choices": [{"message": {"role": "assistant", "content": server.content}}]}
                else:
                    answer = {"received": body.get("variables")}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client timed out
                    self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.stop()


def test_delay_and_webhook_steps_resume_from_the_database(account: InstagramAccount, fake_server: FakeServer) -> None:
    make_flow(
        account,
        [
            {"id": "hi", "type": "send_text", "text": "One moment…"},
            {"id": "wait", "type": "delay", "seconds": 60},
            {"id": "crm", "type": "webhook", "url": f"{fake_server.url}/hook", "timeout": 5, "variable": "crm"},
            {"id": "done", "type": "send_text", "text": "Done."},
        ],
    )
    say(account, "m1", "start")
    run = FlowRun.all_workspaces.get()
    assert run.status == FlowRunStatus.DELAYED and [p["message"] for p in planned(account)] == ["One moment…"]
    assert flow_runs_resume_due() == 0  # not yet
    assert flow_runs_resume_due(now=timezone.now() + timedelta(seconds=61)) == 1
    run.refresh_from_db()
    assert run.status == FlowRunStatus.COMPLETED
    assert run.variables["crm"]["ok"] is True and run.variables["crm"]["status"] == 200
    assert fake_server.requests[0]["body"]["participant"]["igsid"] == conversation().participant_igsid
    assert [p["message"] for p in planned(account)] == ["One moment…", "Done."]


def ai_settings(account: InstagramAccount, url: str, **fields: Any) -> MessagingSettings:
    defaults: dict[str, Any] = {
        "ai_enabled": True,
        "ai_base_url": url,
        "ai_model": "tiny-model",
        "ai_api_key_encrypted": token_encrypt(plaintext="sk-test"),
        "ai_brand_facts": "Open 8 to 13.",
        "ai_timeout_seconds": 0.5,
        "ai_fallback_template": "Thanks {username}, a person will answer soon.",
        "ai_blocked_words": "guarantee",
    }
    defaults.update(fields)
    return MessagingSettings.all_workspaces.create(workspace_id=account.workspace_id, **defaults)


def test_ai_reply_from_an_openai_compatible_endpoint(account: InstagramAccount, fake_server: FakeServer) -> None:
    ai_settings(account, fake_server.url)
    say(account, "m1", "When are you open?")
    assert [p["message"] for p in planned(account)] == ["We open at 8, see you soon!"]
    request = fake_server.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny-model"
    assert "Open 8 to 13." in request["body"]["messages"][0]["content"]
    why = AutomatedReply.all_workspaces.get()
    assert (why.generator, why.model) == ("ai", "tiny-model")


@pytest.mark.parametrize(
    ("mode", "content", "reason"),
    [
        ("slow", "late", "did not answer within 0.5 s"),
        ("error", "x", "answered HTTP 500"),
        ("ok", "We guarantee it", "blocked word"),
    ],
)
def test_ai_falls_back_to_the_template(
    account: InstagramAccount, fake_server: FakeServer, mode: str, content: str, reason: str
) -> None:
    fake_server.mode, fake_server.content = mode, content
    ai_settings(account, fake_server.url)
    known_follower(account)
    say(account, "m1", "When are you open?")
    assert [p["message"] for p in planned(account)] == ["Thanks @fan, a person will answer soon."]
    why = AutomatedReply.all_workspaces.get()
    assert why.generator == "fallback" and reason in why.detail


def test_the_event_hook_calls_subscribers_after_commit(
    account: InstagramAccount, django_capture_on_commit_callbacks
) -> None:
    heard: list[tuple[str, int]] = []

    def subscriber(event: ConversationEvent) -> None:
        heard.append((event.kind, event.conversation_id))

    known_follower(account)
    events.conversation_event_subscribe(subscriber)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            say(account, "m1", "I want a human")
        assert heard == []  # nothing before the commit
        for callback in callbacks:
            callback()
    finally:
        events.conversation_event_unsubscribe(subscriber)
    assert heard == [("new_conversation", conversation().pk), ("hand_over", conversation().pk)]


def test_a_flows_messages_of_one_pass_are_due_in_order(account: InstagramAccount) -> None:
    make_flow(
        account,
        [
            {"id": "a", "type": "send_text", "text": "first"},
            {"id": "b", "type": "send_text", "text": "second"},
            {"id": "c", "type": "ask", "text": "third?", "variable": "x"},
        ],
    )
    say(account, "m1", "start")
    actions = list(Action.all_workspaces.order_by("due_at"))
    assert [action.payload["message"] for action in actions] == ["first", "second", "third?"]
    assert actions[0].due_at < actions[1].due_at < actions[2].due_at


def test_a_webhook_step_that_times_out_stores_the_error_and_goes_on(
    account: InstagramAccount, fake_server: FakeServer
) -> None:
    fake_server.mode = "slow"
    make_flow(
        account,
        [
            {"id": "crm", "type": "webhook", "url": f"{fake_server.url}/hook", "timeout": 0.5, "variable": "crm"},
            {"id": "done", "type": "send_text", "text": "Done."},
        ],
    )
    say(account, "m1", "start")
    run = FlowRun.all_workspaces.get()
    assert run.status == FlowRunStatus.COMPLETED and run.variables["crm"] == {"ok": False, "error": "ReadTimeout"}
    assert [p["message"] for p in planned(account)] == ["Done."]


def test_the_optional_ai_classifier_names_the_intent_the_rules_cannot(
    account: InstagramAccount, fake_server: FakeServer
) -> None:
    fake_server.content = "Complaint."
    ai_settings(account, fake_server.url, ai_enabled=False, classifier_ai=True)
    say(account, "m1", "meh, the croissant was dry")  # no keyword of any intent
    analysis = MessageAnalysis.all_workspaces.get()
    assert (analysis.intent, analysis.classified_by) == ("complaint", "AI: tiny-model")
    assert "Answer with the label only" in fake_server.requests[0]["body"]["messages"][0]["content"]
    # Rules first: a message the rules classify never reaches the model.
    say(account, "m2", "how much is it?")
    assert len(fake_server.requests) == 1


def test_the_ai_sees_the_context_including_the_senders_comments_on_our_posts(
    account: InstagramAccount, fake_server: FakeServer
) -> None:
    from engagement.models import Comment

    known_follower(account)
    Comment.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, ig_comment_id="c1", from_username="fan", text="Yum!"
    )
    Comment.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, ig_comment_id="c2", from_username="other", text="Meh"
    )
    ai_settings(account, fake_server.url)
    say(account, "m1", "Do you have vegan ones?")
    messages = fake_server.requests[0]["body"]["messages"]
    assert "earlier commented on our posts: Yum!" in messages[0]["content"] and "Meh" not in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "Do you have vegan ones?"}


def test_a_tapped_button_postback_is_a_message_and_triggers_by_its_payload(account: InstagramAccount) -> None:
    rule(account, name="Tracking", keywords="track_order", reply_templates="Your order is on its way.")
    # The shape of instagram/tests/fixtures/meta/webhook_messaging_postbacks.json (Meta's messaging_postbacks page).
    item = {
        "sender": {"id": "1234567890123456"},
        "recipient": {"id": account.ig_user_id},
        "timestamp": int(timezone.now().timestamp() * 1000),
        "postback": {"mid": "pb-1", "title": "Track my order", "payload": "TRACK_ORDER"},
    }
    event = deliver(account, item)
    assert event.state == "processed"
    assert [payload["message"] for payload in planned(account)] == ["Your order is on its way."]
    assert conversation().last_message_preview == "Your order is on its way."
    assert "keyword “track_order”" in AutomatedReply.all_workspaces.get().trigger


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {username}! Pickup or delivery?", "Hi! Pickup or delivery?"),
        ("Thanks {name}, see you", "Thanks, see you"),
        ("{username} hello", "hello"),
        ("Your code: {code}", "Your code: {code}"),  # not a person's field: stays as written
    ],
)
def test_a_person_not_known_yet_leaves_no_gap_in_the_text(
    account: InstagramAccount, template: str, expected: str
) -> None:
    """A new person's profile is read in a task; an answer rendered before it lands reads naturally."""
    from messaging.automation import render

    stranger = Conversation.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, participant_igsid="1234567890123456"
    )
    assert render(template, conversation=stranger) == expected
