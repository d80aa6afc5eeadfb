"""The logs of one piece of work, as production writes them (issue 19, "Logs").

A follower comments in the sandbox; its signed ``comments`` webhook reaches the product's own WSGI handler
(middleware and all); the inbound task plans the rule's reply; ``dispatch_once`` sends it to the sandbox and
records the outcome. Everything logged meanwhile is captured through the configured console handler with
the JSON formatter (``LOG_FORMAT=json``, production's default): every line is JSON, the lines of that work
share one correlation id from the webhook to the outcome and name its workspace and account, and no
access token, app secret or other secret appears anywhere in the output.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from pytest_django.fixtures import Settings

from accounts.models import InstagramAccount, Workspace
from accounts.services import account_access_token
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState, ActionType
from engagement.models import CommentRule
from engagement.services import comment_rule_save
from instaforge.logfilters import JsonLogFormatter, SecretsRedactingFilter
from instagram.models import InboundEvent
from sandbox.models import SandboxToken
from sandbox.services import sandbox_comment_post
from sandbox.testing import SandboxServer
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from tests.factories import account_connected_in_sandbox

APP_SECRET = "app-secret-of-the-log-test-5d1c7a"  # noqa: S105 (a test's own secret, searched for)
VERIFY_TOKEN = "verify-token-of-the-log-test-93be"  # noqa: S105


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root's configured console handler (its filters as settings made them), writing JSON into a buffer."""
    root = logging.getLogger()
    (handler,) = [
        handler
        for handler in root.handlers
        if isinstance(handler, logging.StreamHandler)
        and any(isinstance(item, SecretsRedactingFilter) for item in handler.filters)
    ]
    buffer = io.StringIO()
    configured: dict[str, Any] = settings.LOGGING
    formatter_config = dict(configured["formatters"]["json"])
    factory = formatter_config.pop("()")
    assert factory == "instaforge.logfilters.JsonLogFormatter"
    old_stream = handler.setStream(buffer)
    old_formatter, old_level = handler.formatter, root.level
    handler.setFormatter(JsonLogFormatter(**formatter_config))
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.setLevel(old_level)
        handler.setFormatter(old_formatter)
        handler.setStream(old_stream)


def _connected_account(workspace: Workspace) -> tuple[InstagramAccount, Any]:
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="log_bakery")
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace,
            account=account,
            name="Prices",
            keywords="price",
            reply_templates="Hi {username}, it is 2.50!",
        )
    )
    return account, sandbox_account


def test_one_comment_is_one_correlation_id_from_the_webhook_to_the_outcome_and_no_secret(
    sandbox_server: SandboxServer,
    product_in_process: str,
    workspace: Workspace,
    settings: Settings,
    json_log: io.StringIO,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.INSTAGRAM_APP_SECRET = APP_SECRET  # the sandbox signs with it, the product checks it
    settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN = VERIFY_TOKEN
    account, sandbox_account = _connected_account(workspace)
    json_log.seek(0)
    json_log.truncate()  # the connection's own lines are not this piece of work

    comment = sandbox_comment_post(media=sandbox_account.media.get(), from_username="hungry_fan", text="price?")
    with django_capture_on_commit_callbacks(execute=True):  # the inbound task, enqueued on commit, runs
        delivery = webhook_deliver(payload=comment_webhook_payload(comment=comment))
    assert delivery.status == 200, delivery.error
    dispatch_once(worker_id="log-dispatcher")

    action = Action.all_workspaces.get(action_type=ActionType.COMMENT_REPLY)
    assert action.state == ActionState.SUCCEEDED, action.last_reason
    event = InboundEvent.objects.get()

    output = json_log.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert all(isinstance(line, dict) and {"time", "level", "logger", "message"} <= line.keys() for line in lines)

    # The webhook's line starts the piece of work; the event and the action kept its id in the database.
    (webhook,) = [line for line in lines if line["message"].startswith("Webhook delivery stored")]
    correlation_id = webhook["correlation_id"]
    assert len(correlation_id) == 32
    assert event.correlation_id == correlation_id
    assert action.correlation_id == correlation_id

    def about(predicate: Any) -> dict[str, Any]:
        (line,) = [line for line in lines if predicate(line)]
        return line

    inbound = about(lambda line: line["message"].startswith(f"Inbound event {event.pk} "))
    planned = about(lambda line: line["message"].startswith(f"Planned action {action.pk} "))
    graph = about(
        lambda line: (
            line["logger"] == "instagram.client"
            and line["message"].startswith("Graph POST ")
            and line["message"].endswith(f"/{comment.comment_id}/replies: HTTP 200")
        )
    )
    outcome = about(lambda line: line["message"] == f"Action {action.pk} (comment_reply): succeeded")
    for line in (inbound, planned, graph, outcome):
        assert line["correlation_id"] == correlation_id, line
        assert (line["workspace_id"], line["account_id"]) == (workspace.pk, account.pk), line
    for line in (graph, outcome):
        assert line["action_id"] == action.pk, line
    assert outcome["outcome"] == "succeeded"
    # Nothing else this run logged claims another correlation id for this action.
    assert {line["correlation_id"] for line in lines if line.get("action_id") == action.pk} == {correlation_id}

    # No secret anywhere in the output: the account's token, every token the sandbox issued, the app secret,
    # the verify token, Django's secret key, the vault's keys.
    secrets = {
        account_access_token(account=account),
        *SandboxToken.objects.values_list("token", flat=True),
        APP_SECRET,
        VERIFY_TOKEN,
        settings.SECRET_KEY,
        *settings.TOKEN_ENCRYPTION_KEYS,
    }
    assert all(len(secret) >= 16 for secret in secrets)
    leaked = [secret for secret in secrets if secret in output]
    assert not leaked, leaked


def test_a_secret_in_any_field_of_a_json_line_is_redacted(json_log: io.StringIO) -> None:
    """Fields given in ``extra``, nested values, a traceback formatted again: all redacted, as the message is."""
    token = "IGAAlogtest0123456789abcdefghijkl"  # noqa: S105
    logger = logging.getLogger("instaforge.tests.logs")
    try:
        raise ValueError(f"GET https://graph.instagram.com/me?access_token={token}")
    except ValueError:
        logger.exception(
            "Calling with %s",
            f"access_token={token}",
            extra={
                "url": f"https://graph.instagram.com/me?fields=id&access_token={token}",
                "access_token": token,
                "nested": {"client_secret": "shh-a-client-secret", "items": [f"Bearer {token}"]},
                "plain_object": type("Quoting", (), {"__str__": lambda self: f"token={token}"})(),
            },
        )
    (line,) = [json.loads(text) for text in json_log.getvalue().splitlines()]
    assert token not in json_log.getvalue() and "shh-a-client-secret" not in json_log.getvalue()
    assert line["message"] == "Calling with access_token=[redacted]"
    assert line["url"] == "https://graph.instagram.com/me?fields=id&access_token=[redacted]"
    assert line["access_token"] == "[redacted]"  # noqa: S105
    assert line["nested"] == {"client_secret": "[redacted]", "items": ["Bearer [redacted]"]}
    assert "ValueError" in line["exc_info"] and "[redacted]" in line["exc_info"]
