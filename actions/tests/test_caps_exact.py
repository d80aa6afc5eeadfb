"""Caps exact under 4 dispatcher processes on PostgreSQL, against the sandbox over HTTP.

Issue 4 asks for 20,000 due actions over 50 accounts. CI runs a smaller
instance (2,000 over 20); the full size runs with
``CAPS_EXACT_ACTIONS=20000 CAPS_EXACT_ACCOUNTS=50 python -m pytest actions/tests/test_caps_exact.py``
(PostgreSQL only: SQLite serialises writers, so "concurrent" would prove little).

Two workspaces: in the first, the workspace's hourly cap binds (counted on
counter rows); in the second, each account's hourly cap on comment replies
binds (counted on the ledger under the account's lock). Demand exceeds both.
Afterwards: no cap is exceeded by one, each binding cap is used exactly, and
the sandbox received exactly one reply call per success on the ledger.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from actions.models import Action, ActionState
from actions.tests.processes import dispatcher_env, dispatcher_start, processes_stop, wait_until
from actions.tests.test_crash_safety import replies_plan
from devtools.seeding import connected_accounts
from sandbox.models import SandboxCall
from sandbox.services import sandbox_settings_update
from sandbox.testing import SandboxServer

ACTIONS = int(os.environ.get("CAPS_EXACT_ACTIONS", "2000"))
ACCOUNTS = int(os.environ.get("CAPS_EXACT_ACCOUNTS", "20"))
DISPATCHERS = 4
PER_ACCOUNT = ACTIONS // ACCOUNTS
ACCOUNT_HOURLY_CAP = int(PER_ACCOUNT * 0.75)  # per account and type, on the ledger
FIRST_ACCOUNTS = ACCOUNTS // 2
WORKSPACE_HOURLY_CAP = int(FIRST_ACCOUNTS * ACCOUNT_HOURLY_CAP * 0.8)  # binds before the accounts' caps do

POLICIES = f"""
safety:
  global: {{max_actions_per_hour: 1000000, max_actions_per_day: 1000000}}
  per_workspace: {{max_actions_per_hour: 1000000, max_actions_per_day: 1000000}}
  per_account: {{max_actions_per_hour: 100000, max_actions_per_day: 100000}}
  burst: {{per_account: {{max_actions: 0, window_seconds: 0}}}}
  cooldowns: {{comment_reply: 0}}
  hourly_limits: {{comment_replies: {ACCOUNT_HOURLY_CAP}}}
  daily_limits: {{comment_replies: 100000}}
"""


def busy() -> bool:
    return Action.all_workspaces.filter(
        Q(state__in=[ActionState.CLAIMED, ActionState.SENDING, ActionState.UNKNOWN])
        | Q(state=ActionState.PLANNED, due_at__lte=timezone.now())
    ).exists()


@pytest.mark.slow
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent dispatchers are proven on PostgreSQL")
def test_four_dispatcher_processes_never_exceed_a_cap_by_one(
    sandbox_live_server: SandboxServer, make_workspace, tmp_path: Path
) -> None:
    from safety.services import policy_override_set

    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    # At full size (300 replies an account within minutes) Meta's 200 calls per user and hour would rightly
    # make the gate hold every call for the hour: this test is about the caps, so the sandbox allows more.
    sandbox_settings_update(app_calls_per_user_per_hour=100_000)
    first, second = make_workspace("Capped workspace"), make_workspace("Capped accounts")
    policy_override_set(
        workspace_id=first.pk, values={"per_workspace.max_actions_per_hour": WORKSPACE_HOURLY_CAP}, actor=None
    )
    made = connected_accounts(first, accounts=FIRST_ACCOUNTS, comments=PER_ACCOUNT, prefix="capsa")
    made += connected_accounts(second, accounts=ACCOUNTS - FIRST_ACCOUNTS, comments=PER_ACCOUNT, prefix="capsb")
    start = timezone.now()
    total = replies_plan(made)
    assert total == PER_ACCOUNT * ACCOUNTS

    env = dispatcher_env(policies=policies)
    processes = [dispatcher_start(env, tmp_path / f"dispatcher{number}.log") for number in range(DISPATCHERS)]
    try:
        assert wait_until(
            lambda: not busy() and Action.all_workspaces.filter(started_at__isnull=False).exists(),
            timeout=600,
            every=0.5,
        )
    finally:
        processes_stop(processes)
    end = timezone.now()

    started = Action.all_workspaces.filter(started_at__isnull=False)
    per_account = dict(started.values_list("account_id").annotate(n=Count("pk")).values_list("account_id", "n"))
    first_ids = {account.pk for account, _ in made[:FIRST_ACCOUNTS]}
    same_hour = start.replace(minute=0, second=0, microsecond=0) == end.replace(minute=0, second=0, microsecond=0)
    workspace_started = sum(n for account_id, n in per_account.items() if account_id in first_ids)

    assert max(per_account.values()) <= ACCOUNT_HOURLY_CAP  # the run is shorter than the hour: one window
    if same_hour:  # the workspace's counter is a fixed UTC hour; a run across the hour has two windows
        assert workspace_started == WORKSPACE_HOURLY_CAP
    else:
        assert workspace_started <= 2 * WORKSPACE_HOURLY_CAP
    for account, _ in made[FIRST_ACCOUNTS:]:
        assert per_account[account.pk] == ACCOUNT_HOURLY_CAP  # each account's cap used exactly
    succeeded = Action.all_workspaces.filter(state=ActionState.SUCCEEDED).count()
    assert succeeded == started.count()
    calls = SandboxCall.objects.filter(method="POST", path__endswith="/replies")
    assert calls.count() == succeeded
    assert not calls.values("path").annotate(n=Count("pk")).filter(n__gt=1).exists()
    # The rest waits for the next window, with the reason on the ledger.
    waiting = Action.all_workspaces.filter(state=ActionState.PLANNED)
    assert waiting.count() == total - succeeded
    assert not waiting.filter(due_at__lte=end - timedelta(seconds=1)).exists()
    assert waiting.filter(last_reason__startswith="workspace hourly limit").exists()
    assert waiting.filter(last_reason__startswith="hourly limit for comment replies").exists()
