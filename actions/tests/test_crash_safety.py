"""No double send: a dispatcher process killed with SIGKILL in the middle of sending, again and again.

A real ``manage.py dispatch`` process runs against this test's database and
the sandbox (over HTTP, with a little latency so calls are in flight when the
kill comes). It is killed -9 several times while it sends a few hundred
replies and started again each time; a last one finishes (leases lapse,
unknown outcomes are reconciled against the sandbox). Then: every action
succeeded, and the sandbox received exactly one reply call per comment.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.db.models import Count

from accounts.models import InstagramAccount, Workspace
from actions.models import Action, ActionState, ActionType
from actions.tests.processes import dispatcher_env, dispatcher_start, processes_stop, wait_until
from devtools.open_policies import OPEN_POLICIES
from devtools.seeding import connected_accounts
from sandbox.models import SandboxCall, SandboxComment
from sandbox.services import sandbox_fault_add
from sandbox.testing import SandboxServer

ACCOUNTS = 6
REPLIES_PER_ACCOUNT = 50
KILLS = 6
LEASE_SECONDS = 2


def replies_plan(made: list[tuple[InstagramAccount, list[str]]]) -> int:
    actions = [
        Action(
            workspace_id=account.workspace_id,
            account=account,
            action_type=ActionType.COMMENT_REPLY,
            idempotency_key=f"crash:{comment_id}",
            payload={"comment_id": comment_id, "message": f"Thanks for {comment_id}!"},
        )
        for account, comment_ids in made
        for comment_id in comment_ids
    ]
    Action.all_workspaces.bulk_create(actions, batch_size=500)
    return len(actions)


def succeeded() -> int:
    return Action.all_workspaces.filter(state=ActionState.SUCCEEDED).count()


@pytest.mark.slow
def test_kill_9_mid_sending_never_sends_twice_and_loses_nothing(
    sandbox_live_server: SandboxServer, workspace: Workspace, tmp_path: Path
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(OPEN_POLICIES)
    made = connected_accounts(workspace, accounts=ACCOUNTS, comments=REPLIES_PER_ACCOUNT, prefix="crash")
    total = replies_plan(made)
    sandbox_fault_add(kind="latency", milliseconds=40, path_pattern="replies")  # calls in flight at each kill
    env = dispatcher_env(policies=policies, lease_seconds=LEASE_SECONDS)
    log = tmp_path / "dispatcher.log"

    kills = 0
    for _ in range(KILLS):
        before = succeeded()
        process = dispatcher_start(env, log)
        try:
            # Kill it once it is sending: a few more successes, while more calls are in flight.
            target = min(total, before + 15)
            progressed = wait_until(lambda: succeeded() >= target, timeout=60, every=0.05)  # noqa: B023 (used at once)
            assert progressed, log.read_text()[-3000:]
            time.sleep(0.05)
        finally:  # a failed wait must not leave the process running (and holding the test database)
            process.send_signal(signal.SIGKILL)
            process.wait()
        kills += 1
        if succeeded() >= total:
            break
    in_doubt = Action.all_workspaces.exclude(state__in=[ActionState.SUCCEEDED, ActionState.PLANNED]).count()

    final = dispatcher_start(env, log)
    try:
        finished = wait_until(lambda: succeeded() == total, timeout=90, every=0.2)
    finally:
        processes_stop([final])
    states = dict(Action.all_workspaces.values_list("state").annotate(n=Count("pk")).values_list("state", "n"))
    assert finished, (states, log.read_text()[-3000:])
    assert kills >= 5

    # A call cut off by the kill may reach the sandbox without its body and be refused (400, "message is
    # required"): nothing was sent, and reconciling rightly sends it again. Sends are the calls Instagram took.
    reply_calls = SandboxCall.objects.filter(method="POST", path__endswith="/replies", status=200)
    per_comment = reply_calls.values("path").annotate(n=Count("pk"))
    duplicates = [row for row in per_comment if row["n"] > 1]
    assert duplicates == []
    assert reply_calls.count() == total  # every action sent once: none lost, none twice
    replies = SandboxComment.objects.filter(parent__isnull=False, via_api=True)
    assert replies.count() == total
    assert not replies.values("parent_id").annotate(n=Count("pk")).filter(n__gt=1).exists()
    # The kills did leave work in doubt (claimed or sending) that recovery settled.
    reconciled = Action.all_workspaces.filter(last_reason__startswith="reconciled").count()
    print(f"kills={kills} in_doubt_after_kills={in_doubt} reconciled={reconciled}")
