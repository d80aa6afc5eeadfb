"""Traffic through the sandbox moves the metrics: a follower's comment → the signed webhook → the rule's reply,
sent by ``dispatch_once`` → the counts and histogram buckets that follow, read back from /metrics."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings

from accounts.models import Workspace
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState, ActionType
from engagement.models import CommentRule
from engagement.services import comment_rule_save
from sandbox.services import sandbox_comment_post
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from tests.factories import account_connected_in_sandbox

# (series, labels) → how much it must grow with one comment answered.
EXPECTED: list[tuple[str, dict[str, str], float]] = [
    ("instaforge_webhook_deliveries_total", {"result": "accepted"}, 1),
    ("instaforge_webhook_entries_total", {"field": "comments"}, 1),
    ("instaforge_inbound_lag_seconds_count", {}, 1),
    ("instaforge_inbound_lag_seconds_bucket", {"le": "60.0"}, 1),
    ("instaforge_gate_decisions_total", {"verdict": "allow", "reason": "allowed"}, 1),
    ("instaforge_actions_total", {"type": "comment_reply", "outcome": "succeeded"}, 1),
    ("instaforge_action_lag_seconds_count", {}, 1),
    ("instaforge_action_lag_seconds_bucket", {"le": "60.0"}, 1),  # due now (no human delay in tests): sent at once
    ("instaforge_graph_requests_total", {"endpoint": "/{id}/replies", "status": "200"}, 1),
    ("instaforge_graph_request_seconds_count", {"endpoint": "/{id}/replies"}, 1),
    ("instaforge_actions_total", {"type": "comment_reply", "outcome": "failed"}, 0),
    ("instaforge_webhook_deliveries_total", {"result": "bad_signature"}, 0),
]


def values() -> list[float]:
    return [REGISTRY.get_sample_value(name, labels) or 0.0 for name, labels, _ in EXPECTED]


def _connected(workspace: Workspace) -> Any:
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="metrics_bakery")
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="Hi {username}!"
        )
    )
    return sandbox_account


@pytest.mark.usefixtures("sandbox_server")
def test_one_answered_comment_moves_the_metrics(
    product_in_process: str,
    workspace: Workspace,
    settings: Settings,
    client: Client,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    sandbox_account = _connected(workspace)
    before = values()

    comment = sandbox_comment_post(media=sandbox_account.media.get(), from_username="hungry_fan", text="price?")
    with django_capture_on_commit_callbacks(execute=True):  # the inbound task, enqueued on commit, runs
        delivery = webhook_deliver(payload=comment_webhook_payload(comment=comment))
    assert delivery.status == 200, delivery.error
    dispatch_once(worker_id="metrics-dispatcher")
    action = Action.all_workspaces.get(action_type=ActionType.COMMENT_REPLY)
    assert action.state == ActionState.SUCCEEDED, action.last_reason

    grown = [after - was for after, was in zip(values(), before, strict=True)]
    assert grown == [expected for _, _, expected in EXPECTED], list(zip(EXPECTED, grown, strict=True))

    # The same figures on /metrics, with the database's gauges beside them.
    text = client.get("/metrics").content.decode()
    assert 'instaforge_actions_total{outcome="succeeded",type="comment_reply"}' in text
    assert 'instaforge_graph_requests_total{endpoint="/{id}/replies",status="200"}' in text
    assert 'instaforge_accounts{state="active"} 1.0' in text
    assert 'instaforge_backlog{queue="due_actions"} 0.0' in text
    assert 'instaforge_backlog{queue="unprocessed_events"} 0.0' in text
