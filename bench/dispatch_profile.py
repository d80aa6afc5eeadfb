"""The dispatcher's CPU per executed action, in one process, against the Graph API stub in another.

Usage: python bench/dispatch_profile.py [--actions 1200] [--accounts 40] [--mode inline|pool] [--dms]
       [--profile FILE] [--rounds 3]

Uses DATABASE_URL (PostgreSQL: a database of its own, created when missing; SQLite in a temporary file when
unset) and REDIS_URL like the product. The stub (devtools/graph_stub.py) runs in a child process, so the CPU
measured here (``time.process_time``: every thread of this process) is the dispatcher's alone.

Each round plans ``--actions`` comment replies over ``--accounts`` accounts (with ``--dms``, a third of them
DMs, each after its typing indicator, as the automation plans them), all due now, and runs the dispatcher's
own path on them until none is left:

- ``inline`` (the default): ``dispatch_once`` without senders, one action claimed, gated, sent and recorded
  at a time in this thread: the dispatcher of a quiet or moderately loaded machine, whose wake-ups find one
  or two due actions (the pipeline benchmark's); everything profiled, since it is one thread;
- ``pool``: ``dispatch_once`` with a pool of senders (``Senders``, 8 threads) and its outcome writer, as
  ``manage.py dispatch`` runs under a backlog (claims of up to 16 actions).

Prints one JSON line per round and a last one with the median: ``cpu_ms_per_action`` (the CPU of the rounds'
dispatching over the actions that succeeded; planning is not counted), ``statements_per_action`` (the
database statements it ran, per action). ``--profile FILE`` writes a cProfile (CPU clock) of the rounds.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.bench_environment import bench_environment  # noqa: E402 (after the path)
from devtools.database_create import database_ready  # noqa: E402
from devtools.open_policies import OPEN_POLICIES  # noqa: E402

PREFIX = "benchprofile"
STUB_SERVER = """
import sys
from devtools.graph_stub import GraphStub
stub = GraphStub()
print(stub.start(), flush=True)
sys.stdin.read()
"""


def stub_start() -> tuple[subprocess.Popen[str], str]:
    """The Graph API stub in a child process (its CPU is not the dispatcher's); returns it and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", STUB_SERVER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def configure(workdir: Path, graph_url: str) -> dict[str, str]:
    policies = workdir / "policies.yaml"
    policies.write_text(OPEN_POLICIES)
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'profile.sqlite3'}")
    env.update({**bench_environment(env), "INSTAGRAM_GRAPH_URL": graph_url, "POLICIES_FILE": str(policies)})
    os.environ.update(env)
    return env


def prepare(*, accounts: int) -> tuple[int, list[Any]]:
    """A workspace of ``accounts`` stub accounts (the previous run's removed); returns its id and the accounts."""
    from accounts.models import Workspace
    from devtools.bench_accounts import stub_accounts
    from devtools.graph_stub import GraphStub
    from instaforge.maintenance import database_vacuum
    from safety.models import SafetyCounter

    Workspace.objects.filter(name="Bench dispatch profile").delete()
    SafetyCounter.objects.all().delete()
    database_vacuum()
    workspace = Workspace.objects.create(name="Bench dispatch profile")
    # The stub in the child process accepts any comment id; this one only numbers them.
    made = stub_accounts(workspace, stub=GraphStub(), accounts=accounts, comments=0, prefix=PREFIX)
    return workspace.pk, [account for account, _ in made]


def plan(*, workspace_id: int, accounts: list[Any], count: int, dms: bool, round_number: int) -> int:
    """``count`` actions due now, the accounts interleaved: comment replies, or a third DMs after typing indicators."""
    from django.utils import timezone

    from actions.models import Action, ActionType

    now = timezone.now()
    actions = []
    for index in range(count):
        account = accounts[index % len(accounts)]
        key = f"{round_number}:{index}"
        common = {"workspace_id": workspace_id, "account_id": account.pk, "source_kind": "bench", "source_id": "p"}
        if dms and index % 3 == 2:
            recipient = str(6_800_000_000_000_000 + index)
            actions.append(
                Action(
                    **common,
                    action_type=ActionType.SENDER_ACTION,
                    idempotency_key=f"typing:{key}",
                    payload={"recipient_id": recipient, "sender_action": "typing_on"},
                    due_at=now,
                )
            )
            payload = {"recipient_id": recipient, "message": "Thanks! Here are the details.", "automated": False}
            actions.append(Action(**common, action_type=ActionType.DM, idempotency_key=f"dm:{key}", payload=payload))
            actions[-1].due_at = now
        else:
            comment_id = str(17_990_000_000_000_000 + round_number * 1_000_000 + index)
            payload = {"comment_id": comment_id, "message": "Thanks! Details in your DMs."}
            actions.append(
                Action(
                    **common,
                    action_type=ActionType.COMMENT_REPLY,
                    idempotency_key=f"reply:{key}",
                    payload=payload,
                    due_at=now,
                )
            )
    Action.all_workspaces.bulk_create(actions, batch_size=500)
    return len(actions)


def run_round(*, mode: str, profiler: cProfile.Profile | None) -> tuple[float, int]:
    """Dispatch until nothing is due: (CPU seconds of this process, statements run)."""
    from django.db import connection

    from actions.dispatcher.loop import dispatch_once
    from actions.dispatcher.sending import Senders

    senders = Senders() if mode == "pool" else None
    statements = 0

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        cpu = time.process_time()
        if profiler is not None:
            profiler.enable()
        if senders is None:
            while dispatch_once(worker_id="profile", limit=1000):
                pass
        else:
            idle = 0
            while idle < 3:  # the senders' last outcomes may still come in
                idle = 0 if dispatch_once(worker_id="profile", senders=senders) else idle + 1
            senders.close()
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - cpu
    # The pool's threads have connections of their own (not captured): count only this thread's statements.
    return cpu, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--actions", type=int, default=1200)
    parser.add_argument("--accounts", type=int, default=40)
    parser.add_argument("--mode", choices=["inline", "pool"], default="inline")
    parser.add_argument("--dms", action="store_true", help="A third of the events DMs, each after a typing indicator.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="", help="Write a cProfile (CPU clock) of the rounds to this file.")
    args = parser.parse_args()

    stub, graph_url = stub_start()
    try:
        env = configure(Path(tempfile.mkdtemp(prefix="bench-dispatch-profile-")), graph_url)
        database_ready(env, root=ROOT)
        import django

        django.setup()
        from actions.models import Action, ActionState

        workspace_id, accounts = prepare(accounts=args.accounts)
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        results = []
        for round_number in range(args.rounds):
            planned = plan(
                workspace_id=workspace_id,
                accounts=accounts,
                count=args.actions,
                dms=args.dms,
                round_number=round_number,
            )
            cpu, statements = run_round(mode=args.mode, profiler=profiler)
            mine = Action.all_workspaces.filter(workspace_id=workspace_id, idempotency_key__contains=f"{round_number}:")
            succeeded = mine.filter(state=ActionState.SUCCEEDED).count()
            result = {
                "round": round_number,
                "mode": args.mode,
                "planned": planned,
                "succeeded": succeeded,
                "cpu_ms_per_action": round(cpu * 1000 / succeeded, 3) if succeeded else None,
                "statements_per_action": round(statements / succeeded, 2) if succeeded else None,
            }
            results.append(result)
            print(json.dumps(result), flush=True)
        if profiler is not None:
            profiler.dump_stats(args.profile)
        measured = [result["cpu_ms_per_action"] for result in results if result["cpu_ms_per_action"] is not None]
        print(
            json.dumps(
                {
                    "mode": args.mode,
                    "dms": args.dms,
                    "database": django.conf.settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                    "cpu_ms_per_action_median": round(_median(measured), 3),
                    "cpu_ms_per_action": measured,
                }
            )
        )
    finally:
        if stub.stdin is not None:
            stub.stdin.close()
        stub.wait(timeout=10)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    main()
