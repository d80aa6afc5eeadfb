"""Dispatch benchmark: N ``manage.py dispatch`` processes against the sandbox (or the stub), through the safety gate.

Usage: python bench/dispatch.py --dispatchers N [--accounts 50] [--backlog 3000] [--paced 1500] [--rate 150]
       [--graph sandbox|stub] [--gate-only]

Uses DATABASE_URL / REDIS_URL from the environment like the product (SQLite in
a temporary file when DATABASE_URL is unset; give PostgreSQL a database of its
own, created when missing: the run deletes its previous bench data and resets the safety counters).
Starts the sandbox (``manage.py sandbox --port P``) and N dispatchers, with a
policies file (POLICIES_FILE) of generous platform caps and no cooldown or burst.
``--graph stub`` answers the Graph API with devtools/graph_stub.py instead, a threaded
server inside this process with no database (the sandbox is a Django app whose CPU
competes with the dispatchers' on the same cores): the bench accounts are then rows
with tokens of their own (devtools/bench_accounts.py), their comments registered
with the stub, and duplicates are counted by the stub.

Phase 0, the gate alone: the same backlog (below), claimed and gated by N
processes running the dispatcher's claim-and-gate (``actions_claim_and_gate``)
with nothing sent: an allowed action is marked succeeded at once. Gives
gate_decisions_per_s, the rate the gate itself decides at. Its actions, decisions
and counters are then deleted, so phase 1 starts from the same ledger.
Phase 1, backlog: --backlog comment replies (one per sandbox comment, spread
over --accounts accounts) all due at once, with two caps that bind: 55 replies
a day per account (counted on the ledger) and a workspace hourly cap of
--backlog * 0.9 (counted on counter rows). Gives gate decisions/s, executed/s
(sandbox calls), duplicates and cap overshoot; its decisions/s, bound by the
sends, is gate_decisions_per_s_while_sending.
Phase 2, paced: caps lifted (workspace override), --paced replies due evenly
over --paced / --rate seconds: gives the lag from due time to start.

The last line printed is one JSON object: database, dispatchers,
gate_decisions_per_s (phase 0), executed_per_s and
gate_decisions_per_s_while_sending (phase 1), lag_p50_ms, lag_p99_ms
(phase 2), duplicates, cap_overshoot (every phase), graph, and the CPU they cost,
steadier than rates when other work shares the cores: gate_cpu_ms_per_decision
(phase 0's gate processes, from first claim to last) and
dispatcher_cpu_ms_per_executed (the dispatchers over phase 1, idle polls
included); the detail of each phase is printed above it. --gate-only runs phase 0 alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.bench_environment import bench_environment  # noqa: E402 (after the path)
from devtools.database_create import database_ready  # noqa: E402
from devtools.graph_stub import GraphStub  # noqa: E402
from devtools.open_policies import OPEN_POLICIES  # noqa: E402

PER_ACCOUNT_DAILY_CAP = 55
# The bench's sandbox accounts (and InstaForge's) are named from this.
PREFIX = "benchdispatch"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configure(workdir: Path, *, graph_url: str = "") -> dict[str, str]:
    """The environment of every process of the run (this one included).

    ``graph_url``: where the Graph API is answered when not by the sandbox (the stub).
    """
    sandbox_url = f"http://127.0.0.1:{free_port()}"
    policies = workdir / "policies.yaml"
    policies.write_text(OPEN_POLICIES)
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    env.update(
        {
            **bench_environment(env),
            "SANDBOX_URL": sandbox_url,
            "INSTAGRAM_GRAPH_URL": graph_url or sandbox_url,
            "POLICIES_FILE": str(policies),
        }
    )
    os.environ.update(env)
    return env


def prepare(*, accounts: int, comments_per_account: int, stub: GraphStub | None = None) -> dict[str, Any]:
    """Bench accounts connected to the sandbox (or answered by ``stub``), each with its comments.

    Returns ids for later phases.
    """
    from accounts.models import Workspace
    from devtools.bench_accounts import stub_accounts
    from devtools.seeding import connected_accounts
    from instaforge.maintenance import database_vacuum
    from safety.models import SafetyCounter
    from sandbox.models import SandboxAccount, SandboxCall

    Workspace.objects.filter(name="Bench dispatch").delete()
    SandboxAccount.objects.filter(username__startswith=PREFIX).delete()
    SandboxCall.objects.all().delete()
    SafetyCounter.objects.all().delete()
    database_vacuum()
    workspace = Workspace.objects.create(name="Bench dispatch")
    if stub is not None:
        made = stub_accounts(workspace, stub=stub, accounts=accounts, comments=comments_per_account, prefix=PREFIX)
    else:
        made = connected_accounts(
            workspace, accounts=accounts, comments=comments_per_account, prefix=PREFIX, text="price?", id_digit="9"
        )
    plan: dict[str, Any] = {
        "workspace_id": workspace.pk,
        "accounts": [{"id": account.pk, "comments": comment_ids} for account, comment_ids in made],
    }
    return plan


def plan_actions(plan: dict[str, Any], *, phase: str, per_account: slice, due: list[Any]) -> int:
    """Plan one reply per comment in ``per_account`` of every account; due times taken in turn from ``due``."""
    from actions.models import Action, ActionType

    rows = []
    for account in plan["accounts"]:
        for comment_id in account["comments"][per_account]:
            rows.append((account["id"], comment_id))
    # Interleave accounts, as real traffic would.
    rows.sort(key=lambda row: row[1])
    actions = [
        Action(
            workspace_id=plan["workspace_id"],
            account_id=account_id,
            action_type=ActionType.COMMENT_REPLY,
            idempotency_key=f"{phase}:{comment_id}",
            payload={"comment_id": comment_id, "message": "Thanks! Details in your DMs."},
            due_at=due[index % len(due)] if len(due) > 1 else due[0],
            source_kind="bench",
            source_id=phase,
        )
        for index, (account_id, comment_id) in enumerate(rows)
    ]
    Action.all_workspaces.bulk_create(actions, batch_size=500)
    return len(actions)


def wait_done(*, phase: str, deadline: float) -> bool:
    """Until no action of the phase is due and unfinished (deferred ones wait for later windows)."""
    from django.db.models import Q
    from django.utils import timezone

    from actions.models import Action, ActionState

    while time.monotonic() < deadline:
        busy = Action.all_workspaces.filter(source_id=phase).filter(
            Q(state__in=[ActionState.CLAIMED, ActionState.SENDING, ActionState.UNKNOWN])
            | Q(state=ActionState.PLANNED, due_at__lte=timezone.now())
        )
        if not busy.exists():
            return True
        time.sleep(0.2)
    return False


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(phase: str) -> dict[str, Any]:
    from django.db.models import Max, Min

    from actions.models import Action, ActionDecision, ActionState

    actions = Action.all_workspaces.filter(source_id=phase)
    decisions = ActionDecision.all_workspaces.filter(action__source_id=phase)
    span = decisions.aggregate(first=Min("at"), last=Max("at"))
    done = actions.filter(state=ActionState.SUCCEEDED)
    run = done.aggregate(first=Min("started_at"), last=Max("finished_at"))
    decision_seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0
    run_seconds = (run["last"] - run["first"]).total_seconds() if run["first"] else 0
    lags = [
        (started - due).total_seconds() * 1000
        for due, started in done.values_list("due_at", "started_at")
        if started is not None
    ]
    executed = done.count()
    return {
        "phase": phase,
        "planned": actions.count(),
        "decisions": decisions.count(),
        "executed": executed,
        "deferred_waiting": actions.filter(state=ActionState.PLANNED).count(),
        "other_states": list(
            actions.exclude(state__in=[ActionState.SUCCEEDED, ActionState.PLANNED]).values_list("state", flat=True)
        )[:10],
        "gate_decisions_per_s": round(decisions.count() / decision_seconds, 1) if decision_seconds else 0.0,
        "executed_per_s": round(executed / run_seconds, 1) if run_seconds else 0.0,
        "lag_p50_ms": round(percentile(lags, 0.50), 1),
        "lag_p99_ms": round(percentile(lags, 0.99), 1),
    }


def cap_overshoot(plan: dict[str, Any], *, workspace_hourly_cap: int, phase: str = "backlog") -> int:
    """How far any cap of phase 1 was exceeded (0 = exact): per-account daily, workspace hourly.

    The account cap counts a rolling day on the ledger; the workspace cap counts each UTC clock
    hour (``safety.counters``), so a run over the top of an hour is checked hour by hour.
    """
    from datetime import UTC

    from django.db.models import Count
    from django.db.models.functions import TruncHour

    from actions.models import Action

    started = Action.all_workspaces.filter(source_id=phase, started_at__isnull=False)
    per_account = started.values("account_id").annotate(n=Count("pk")).values_list("n", flat=True)
    worst_account = max(per_account, default=0) - PER_ACCOUNT_DAILY_CAP
    per_hour = (
        started.annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values("hour")
        .annotate(n=Count("pk"))
        .values_list("n", flat=True)
    )
    worst_workspace = max(per_hour, default=0) - workspace_hourly_cap
    return max(0, worst_account, worst_workspace)


def duplicates() -> tuple[int, int]:
    """(the bench's comments with more than one reply in the sandbox, POST …/replies calls it received for them).

    Only the bench's own accounts count: the database may hold other sandbox data (the demo, a test run).
    """
    from django.db.models import Count

    from sandbox.models import SandboxCall, SandboxComment

    replies = SandboxComment.objects.filter(
        parent__isnull=False, via_api=True, media__account__username__startswith=PREFIX
    )
    doubled = replies.values("parent_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    calls = SandboxCall.objects.filter(
        method="POST", path__endswith="/replies", account__username__startswith=PREFIX
    ).count()
    return doubled, calls


GATE_WORKER = """
import django, json, sys, time
django.setup()
from django.utils import timezone
from actions.dispatcher.claim import actions_claim_and_gate
from actions.models import Action, ActionState
worker = sys.argv[1]
cpu, gated = time.process_time(), 0
while (claimed := actions_claim_and_gate(worker_id=worker, now=timezone.now(), limit=20))[0]:
    gated += claimed[0]
    done = [action.pk for action in claimed[1]]
    Action.all_workspaces.filter(pk__in=done).update(state=ActionState.SUCCEEDED, finished_at=timezone.now())
print(json.dumps({"cpu_s": time.process_time() - cpu, "gated": gated}), flush=True)
"""


def cpu_seconds(processes: list[subprocess.Popen[bytes]]) -> float | None:
    """The CPU time (user + system) the running ``processes`` have used so far (Linux's /proc), else None."""
    total = 0
    try:
        for process in processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def cpu_ms_per(cpu: float | None, count: int) -> float | None:
    return round(cpu * 1000 / count, 3) if cpu is not None and count else None


def gate_only(
    *, env: dict[str, str], dispatchers: int, deadline: float, phase: str, profile: str = ""
) -> dict[str, Any]:
    """The gate alone: N processes claim, gate and mark the phase's actions, and record success without calling out."""
    script = Path(tempfile.mkdtemp()) / "gate_worker.py"
    script.write_text(GATE_WORKER)
    workers = []
    for number in range(dispatchers):
        profiling = ["-m", "cProfile", "-o", profile] if profile and number == 0 else []
        workers.append(
            subprocess.Popen(
                [sys.executable, *profiling, str(script), f"gate{number}"],
                env={**env, "PYTHONPATH": str(ROOT)},
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
        )
    cpu = 0.0
    try:
        for worker in workers:
            out, _ = worker.communicate(timeout=max(1.0, deadline - time.monotonic()))
            cpu += json.loads(out.decode().strip().splitlines()[-1])["cpu_s"]
    finally:
        stop(workers)
    result = measure(phase)
    # The gate processes' CPU from their first claim to their last (Django's start-up left out), per decision.
    result["gate_cpu_ms_per_decision"] = cpu_ms_per(cpu, result["decisions"])
    return result


def gate_phase_clear(phase: str) -> None:
    """Delete what the gate-alone phase left (its actions and their decisions, the counters), for the next phase."""
    from actions.models import Action
    from instaforge.maintenance import database_vacuum
    from safety.models import SafetyCounter

    Action.all_workspaces.filter(source_id=phase).delete()
    SafetyCounter.objects.all().delete()
    database_vacuum()


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    end = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=3000, help="Replies due at once in phase 1.")
    parser.add_argument("--paced", type=int, default=600, help="Replies spread over phase 2.")
    parser.add_argument(
        "--rate",
        type=float,
        default=30.0,
        help="Replies per second due in phase 2 (below the sandbox's capacity here).",
    )
    parser.add_argument(
        "--gate-only", action="store_true", help="Measure the gate alone (no sandbox, no sends) on the backlog."
    )
    parser.add_argument(
        "--profile",
        default="",
        help="Write a cProfile of the first dispatcher (with --gate-only: gate process) to this file.",
    )
    parser.add_argument(
        "--graph",
        choices=["sandbox", "stub"],
        default="sandbox",
        help="What answers the Graph API: the sandbox (manage.py sandbox) or the stub in this process.",
    )
    parser.add_argument("--timeout", type=float, default=240.0, help="Upper bound of the whole run, in seconds.")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout

    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    stub = GraphStub() if args.graph == "stub" else None
    env = configure(workdir, graph_url=stub.start() if stub is not None else "")
    manage = [sys.executable, str(ROOT / "manage.py")]
    database_ready(env, root=ROOT)

    import django

    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from safety.services import policy_override_set

    backlog_per_account = args.backlog // args.accounts
    paced_per_account = args.paced // args.accounts
    plan = prepare(accounts=args.accounts, comments_per_account=backlog_per_account + paced_per_account, stub=stub)
    workspace_hourly_cap = int(backlog_per_account * args.accounts * 0.9)
    policy_override_set(
        workspace_id=plan["workspace_id"],
        values={
            "per_account.max_actions_per_day": PER_ACCOUNT_DAILY_CAP,
            "per_workspace.max_actions_per_hour": workspace_hourly_cap,
        },
        actor=None,
    )

    # Phase 0: the gate alone, on the backlog phase 1 then sends.
    gate_profile = args.profile if args.gate_only else ""  # else --profile is the first dispatcher's
    plan_actions(plan, phase="gate", per_account=slice(0, backlog_per_account), due=[timezone.now()])
    gate = gate_only(env=env, dispatchers=args.dispatchers, deadline=deadline, phase="gate", profile=gate_profile)
    gate["finished"] = gate["planned"] == gate["decisions"]
    gate_overshoot = cap_overshoot(plan, workspace_hourly_cap=workspace_hourly_cap, phase="gate")
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if args.gate_only:
        print(json.dumps(gate))
        keys = {"database": engine, "dispatchers": args.dispatchers, "mode": "gate only", "graph": args.graph}
        print(
            json.dumps(
                {
                    **keys,
                    "gate_decisions_per_s": gate["gate_decisions_per_s"],
                    "cap_overshoot": gate_overshoot,
                    "gate_cpu_ms_per_decision": gate["gate_cpu_ms_per_decision"],
                }
            )
        )
        return
    gate_phase_clear("gate")

    processes: list[subprocess.Popen[bytes]] = []
    logs = [open(workdir / name, "wb") for name in ["sandbox.log", *(f"d{n}.log" for n in range(args.dispatchers))]]  # noqa: SIM115
    try:
        if stub is None:
            port = settings.SANDBOX_URL.rsplit(":", 1)[1]
            processes.append(
                subprocess.Popen(
                    [*manage, "sandbox", "--port", port, "--no-webhook-sender"],
                    env=env,
                    cwd=ROOT,
                    stdout=logs[0],
                    stderr=subprocess.STDOUT,
                )
            )
        for number in range(args.dispatchers):
            profile = ["-m", "cProfile", "-o", args.profile] if args.profile and number == 0 else []
            command = [sys.executable, *profile, str(ROOT / "manage.py"), "dispatch"]
            processes.append(
                subprocess.Popen(command, env=env, cwd=ROOT, stdout=logs[number + 1], stderr=subprocess.STDOUT)
            )
        time.sleep(3)  # let the processes import Django and start polling
        dispatchers_cpu = cpu_seconds(processes[-args.dispatchers :])

        # Phase 1: the backlog, all due now.
        plan_actions(plan, phase="backlog", per_account=slice(0, backlog_per_account), due=[timezone.now()])
        finished = wait_done(phase="backlog", deadline=deadline)
        dispatchers_cpu_now = cpu_seconds(processes[-args.dispatchers :])
        backlog = measure("backlog")
        backlog["finished"] = finished
        # The dispatchers' CPU over the backlog (idle polling and housekeeping included), per executed action.
        backlog["dispatcher_cpu_ms_per_executed"] = cpu_ms_per(
            dispatchers_cpu_now - dispatchers_cpu
            if dispatchers_cpu is not None and dispatchers_cpu_now is not None
            else None,
            backlog["executed"],
        )
        overshoot = cap_overshoot(plan, workspace_hourly_cap=workspace_hourly_cap)

        # Phase 2: caps lifted, replies due at a steady rate.
        policy_override_set(
            workspace_id=plan["workspace_id"],
            values={"per_account.max_actions_per_day": None, "per_workspace.max_actions_per_hour": None},
            actor=None,
        )
        count = paced_per_account * args.accounts
        start = timezone.now() + timedelta(seconds=1)
        due = [start + timedelta(seconds=index / args.rate) for index in range(count)]
        plan_actions(plan, phase="paced", per_account=slice(backlog_per_account, None), due=due)
        time.sleep(max(0.0, (due[-1] - timezone.now()).total_seconds()) if due else 0)
        finished = wait_done(phase="paced", deadline=deadline)
        paced = measure("paced")
        paced["finished"] = finished
    finally:
        stop(processes)
        for log in logs:
            log.close()

    succeeded = backlog["executed"] + paced["executed"]
    if stub is not None:
        stub.stop()
        doubled = stub.duplicates()
        detail = {
            "stub_reply_calls": stub.calls["comment_reply"],
            "stub_calls": dict(stub.calls),
            "stub_unexpected": dict(stub.unexpected),
            "ledger_succeeded": succeeded,
        }
    else:
        doubled, calls = duplicates()
        detail = {"sandbox_reply_calls": calls, "ledger_succeeded": succeeded}
    print(json.dumps(gate))
    print(json.dumps(backlog))
    print(json.dumps(paced))
    print(json.dumps(detail))
    print(
        json.dumps(
            {
                "database": engine,
                "dispatchers": args.dispatchers,
                "gate_decisions_per_s": gate["gate_decisions_per_s"],
                "executed_per_s": backlog["executed_per_s"],
                "gate_decisions_per_s_while_sending": backlog["gate_decisions_per_s"],
                "lag_p50_ms": paced["lag_p50_ms"],
                "lag_p99_ms": paced["lag_p99_ms"],
                "duplicates": doubled,
                "cap_overshoot": max(gate_overshoot, overshoot),
                "graph": args.graph,
                "gate_cpu_ms_per_decision": gate["gate_cpu_ms_per_decision"],
                "dispatcher_cpu_ms_per_executed": backlog["dispatcher_cpu_ms_per_executed"],
            }
        )
    )


if __name__ == "__main__":
    main()
