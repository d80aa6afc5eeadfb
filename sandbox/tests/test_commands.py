"""Sandbox commands (sandbox_faults, sandbox_simulate), the follower page DM box, and calls_count."""

from __future__ import annotations

import json
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from sandbox import selectors, services
from sandbox.models import SandboxAccount, SandboxComment, SandboxFault, SandboxMessage
from sandbox.testing import SandboxServer, WebhookReceiver


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_sandbox_faults_add_list_clear(db: None) -> None:
    added = run(
        "sandbox_faults", "add", "--kind", "error", "--code", "4", "--account", "demo_bakery", "--times", "3",
        "--path-pattern", "replies",
    )  # fmt: skip
    run("sandbox_faults", "add", "--kind", "latency", "--ms", "800")
    run("sandbox_faults", "add", "--kind", "drop_webhooks", "--ratio", "0.5")

    listed = run("sandbox_faults", "list").splitlines()

    assert added.startswith("Added fault #")
    assert [json.loads(line)["kind"] for line in listed] == ["error", "latency", "drop_webhooks"]
    fault = SandboxFault.objects.get(kind="error")
    assert (fault.code, fault.account_username, fault.remaining, fault.path_pattern) == (4, "demo_bakery", 3, "replies")
    assert run("sandbox_faults", "clear", "--id", str(fault.pk)).strip() == "Cleared 1 fault(s)."
    assert run("sandbox_faults", "clear").strip() == "Cleared 2 fault(s)."
    assert run("sandbox_faults", "list").strip() == "No active faults."


def test_sandbox_faults_config(db: None) -> None:
    out = run("sandbox_faults", "config", "--webhook-batch-size", "10", "--webhook-duplicate-ratio", "0.1")

    assert "webhook_batch_size = 10" in out
    assert selectors.sandbox_settings().webhook_duplicate_ratio == 0.1


def test_sandbox_faults_rejects_a_bad_pattern(db: None) -> None:
    with pytest.raises(CommandError):
        run("sandbox_faults", "add", "--kind", "error", "--path-pattern", "(")


def test_sandbox_simulate(webhook_receiver: WebhookReceiver, transactional_db: None) -> None:
    out = run("sandbox_simulate", "--accounts", "2", "--comments", "6", "--dms", "4", "--rate", "200", "--json")

    summary = json.loads(out)
    assert (summary["accounts"], summary["comments"], summary["dms"]) == (2, 6, 4)
    assert summary["webhook_posts"] == 10
    assert summary["webhook_posts_failed"] == 0
    assert SandboxAccount.objects.filter(username__startswith="sim_account_").count() == 2
    assert SandboxComment.objects.count() == 6
    assert SandboxMessage.objects.count() == 4
    assert len(webhook_receiver.requests) == 10


def test_follower_page_dm_box(
    sandbox_server: SandboxServer, webhook_receiver: WebhookReceiver, account: SandboxAccount, transactional_db: None
) -> None:
    url = f"{sandbox_server.url}/u/{account.username}/messages/"

    sent = requests.post(url, data={"from_username": "jane", "text": "Hi there"}, allow_redirects=False, timeout=5)
    mention = requests.post(url, data={"from_username": "jane", "kind": "story_mention"}, timeout=5)
    empty = requests.post(url, data={"from_username": "jane", "text": ""}, timeout=5)
    page = requests.get(f"{sandbox_server.url}/u/{account.username}/", timeout=5).text

    assert sent.status_code == 302
    assert mention.status_code == 200
    assert empty.status_code == 400
    assert 'data-testid="sandbox-thread" data-follower="jane"' in page
    assert "Hi there" in page
    assert "[story_mention]" in page
    assert len(webhook_receiver.requests) == 2


def test_follower_page_quick_replies_and_postback_buttons(
    sandbox_server: SandboxServer, webhook_receiver: WebhookReceiver, account: SandboxAccount, transactional_db: None
) -> None:
    incoming = services.sandbox_follower_message(account=account, from_username="jane", text="Menu?")
    quick = {"text": "Pick one", "quick_replies": [{"content_type": "text", "title": "Rye", "payload": "RYE"}]}
    button = {"type": "postback", "title": "Buy", "payload": "BUY_1"}
    template = {"template_type": "generic", "elements": [{"title": "Sourdough", "buttons": [button]}]}
    igsid = incoming.conversation.follower_id
    services.sandbox_message_send(account=account, recipient_id=igsid, message=quick)
    services.sandbox_message_send(
        account=account, recipient_id=igsid, message={"attachment": {"type": "template", "payload": template}}
    )
    url = f"{sandbox_server.url}/u/{account.username}/messages/"

    page = requests.get(f"{sandbox_server.url}/u/{account.username}/", timeout=5).text
    requests.post(
        url, data={"from_username": "jane", "kind": "quick_reply", "text": "Rye", "payload": "RYE"}, timeout=5
    )
    requests.post(url, data={"from_username": "jane", "kind": "postback", "text": "Buy", "payload": "BUY_1"}, timeout=5)

    assert 'data-testid="follower-quick-reply">Rye<' in page
    assert 'data-testid="follower-postback">Sourdough · Buy<' in page
    events = [json.loads(request.body)["entry"][0]["messaging"][0] for request in webhook_receiver.requests]
    assert events[1]["message"]["quick_reply"] == {"payload": "RYE"}
    assert events[2]["postback"]["payload"] == "BUY_1"


def test_calls_count(db: None, account: SandboxAccount) -> None:
    for path in ("/v26.0/me", "/v26.0/123/replies", "/v26.0/456/replies"):
        services.sandbox_call_record(method="POST", path=path, account=account, params={}, status=200, response={})
    services.sandbox_call_record(method="GET", path="/v26.0/me", account=None, params={}, status=200, response={})

    assert selectors.calls_count(method="POST") == 3
    assert selectors.calls_count(method="post", path_suffix="/replies") == 2
    assert selectors.calls_count(method="POST", path_suffix="/replies", account="acme.shop") == 2
    assert selectors.calls_count(method="GET", account=account) == 0
