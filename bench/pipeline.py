"""Pipeline benchmark: followers comment in the sandbox at a fixed rate; InstaForge answers every one.

Usage: python bench/pipeline.py [--rate 20] [--seconds 20] [--accounts 5] [--comments-only] [--drain 20] [--keep]
                                [--graph sandbox|stub] [--history N]

Uses DATABASE_URL / REDIS_URL from the environment like the product (SQLite in
a temporary file when DATABASE_URL is unset; give PostgreSQL a database of its
own, created when missing: the run deletes its previous bench data). Starts the sandbox, gunicorn
(the webhook receiver), a django-q2 cluster and a dispatcher, with a policies
file of generous caps and no cooldowns, so nothing is deferred on purpose
(the reply delay is zero). Each account has one comment rule answering
"price" with a public reply and one DM rule answering "price" with a DM.

The load: --rate events a second for --seconds, spread over --accounts
accounts and distinct followers; every other event is a comment made in the
sandbox (stored there, then its signed ``comments`` webhook POSTed to
InstaForge, as Meta does), the others a DM (``messages`` webhook), which the
DM pipeline answers (intent, sentiment, the rule, a typing indicator, then
the reply through the gate). ``--comments-only`` sends comments only.

End to end (e2e) = from the sandbox storing the comment or DM (the webhook is
sent right after) to the sandbox storing InstaForge's reply. CPU = user + system
time of every InstaForge process (gunicorn master and workers, the cluster and
its workers, the dispatcher; not the sandbox, not the load generator) over the
run, divided by the events sent. ``missed`` = events without their reply
--drain seconds after the load stopped.

``--graph stub`` answers the Graph API with a minimal responder inside this
process (devtools/graph_stub.py: no database, keep-alive, the documented
shapes) instead of the sandbox, whose own CPU would compete with
InstaForge's: the bench accounts are then rows with an encrypted token, the
signed webhooks are POSTed from forked asyncio senders, and e2e = from the
time the webhook's POST was due (the load's schedule) to the reply call's
arrival at the stub. The sandbox stays the default, for
correctness runs. ``--history N`` first writes N past actions (with their
gate decisions) and N past inbound events over the bench accounts
(devtools/bench_history.py: COPY on PostgreSQL, batches on SQLite).
``pss_mib``: the largest proportional memory (PSS) of all InstaForge
processes together, sampled every second during the load and the drain;
the detail line breaks that sample down by process (``pss_mib_by_process``:
web, worker, dispatcher) and by member (``pss_mib_by_member``: ``web
master``, ``web worker 1``, ``worker sentinel``, ``worker monitor``...).
gunicorn runs with the deployed configuration (deploy/gunicorn.conf.py),
its address and worker count the benchmark's.

The last line printed is one JSON object: database, broker, events_per_s,
e2e_p50_ms, e2e_p99_ms, cpu_ms_per_event, missed, pss_mib, history_rows
(actions + decisions + inbound events seeded), graph, and with the stub
ack_p99_ms (from the time each webhook POST was due to its 2xx: what Meta sees)
and duplicate_replies (replies the stub received more than once). The detail
line above it adds ack_p50_ms and last_reply_after_load_s (when the last
reply arrived, from the end of the load: how long a backlog took to drain).
The load is open-loop: each event is sent at its time, however slow the
answers before it (an overload run shows the acks slowing, not the load).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.bench_environment import bench_environment  # noqa: E402 (after the path)
from devtools.database_create import database_ready  # noqa: E402
from devtools.graph_stub import GraphStub, comment_webhook, message_webhook, webhook_body  # noqa: E402
from devtools.open_policies import OPEN_POLICIES  # noqa: E402

WORKSPACE = "Bench pipeline"
# The cluster and the dispatcher run below the web's priority, as deploy/systemd's units run them (Nice=10).
BACKGROUND_NICE = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configure(workdir: Path, *, graph_url: str = "") -> tuple[dict[str, str], int]:
    """The environment of every process of the run (this one included), and the web port.

    ``graph_url``: where the Graph API is answered when not by the sandbox (the stub).
    """
    sandbox_url = f"http://127.0.0.1:{free_port()}"
    web_port = free_port()
    policies = workdir / "policies.yaml"
    # No human delay, but a DM's typing indicator (due with the DM, so each DM answered costs two calls).
    policies.write_text(OPEN_POLICIES + "timing:\n  typing_seconds: 1\n")
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}")
    env.update(
        {
            **bench_environment(env),
            "SANDBOX_URL": sandbox_url,
            "INSTAGRAM_GRAPH_URL": graph_url or sandbox_url,
            "SANDBOX_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/webhooks/instagram/",
            "POLICIES_FILE": str(policies),
            "Q_WORKERS": env.get("Q_WORKERS", "2"),
        }
    )
    os.environ.update(env)
    return env, web_port


def prepare(*, accounts: int, graph: str) -> list[dict[str, Any]]:
    """Bench accounts (active, past the warm-up), each with a "price" comment rule and DM rule.

    With the sandbox, each is connected to a sandbox account (its token issued there); with the stub, which
    accepts any token, each is a row with an encrypted token of its own, its ids in Meta's formats.
    """
    import secrets

    from django.utils import timezone

    from accounts.models import AccountState, InstagramAccount, Workspace
    from accounts.vault import token_encrypt
    from devtools.bench_history import history_delete
    from devtools.seeding import COMMENT_SCOPES, sandbox_connected_account
    from engagement.models import CommentRule
    from engagement.services import comment_rule_save
    from instaforge.maintenance import database_vacuum
    from instagram.models import InboundEvent
    from messaging.models import DmRule
    from safety.models import SafetyCounter
    from sandbox.models import SandboxAccount, SandboxCall

    # An earlier run's --history first, in bulk: the ORM's cascade would list every row in one query.
    history_delete(workspace_ids=list(Workspace.objects.filter(name=WORKSPACE).values_list("pk", flat=True)))
    Workspace.objects.filter(name=WORKSPACE).delete()
    SandboxAccount.objects.filter(username__startswith="benchpipe").delete()
    SandboxCall.objects.all().delete()
    SafetyCounter.objects.all().delete()
    InboundEvent.objects.all().delete()
    # Tasks an earlier benchmark left queued (webhook_ingest runs no worker) would keep the cluster busy.
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    database_vacuum()
    workspace = Workspace.objects.create(name=WORKSPACE)
    prepared = []
    for number in range(accounts):
        if graph == "stub":
            account = InstagramAccount.all_workspaces.create(
                workspace=workspace,
                ig_user_id=str(17_841_400_000_000_000 + number),
                username=f"benchpipe{number}",
                state=AccountState.ACTIVE,
                access_token_encrypted=token_encrypt(plaintext="IGAA" + secrets.token_hex(40)),
                connected_at=timezone.now(),
            )
        else:
            account, sandbox_account = sandbox_connected_account(
                workspace, username=f"benchpipe{number}", scopes=COMMENT_SCOPES + ",instagram_business_manage_messages"
            )
        comment_rule_save(
            rule=CommentRule(
                workspace=workspace,
                account=account,
                name="Prices",
                keywords="price",
                reply_templates="Hi {username}, it is 2.50!\nThanks {username}, 2.50 each.",
            )
        )
        DmRule.all_workspaces.create(
            workspace=workspace,
            account=account,
            name="Prices",
            keywords="price",
            reply_templates="Hi {username}, it is 2.50!",
        )
        if graph == "stub":
            prepared.append(
                {"account": account, "ig_user_id": account.ig_user_id, "media_id": str(17_918_195_224_000_000 + number)}
            )
        else:
            prepared.append(
                {
                    "account": account,
                    "sandbox_account_id": sandbox_account.pk,
                    "media_id": sandbox_account.media.get().pk,
                }
            )
    return prepared


def process_tree_cpu(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """Seconds of CPU (user + system) of each named process and its descendants, by name.

    A live member counts its own times; one that exited (a django-q2 worker
    recycled, a gunicorn worker restarted) counts through its parent's
    ``children_*`` times once the parent has reaped it. Reading live members
    only would lose every recycled worker's CPU.
    """
    totals: dict[str, float] = {}
    for name, process in processes.items():
        try:
            root = psutil.Process(process.pid)
            members = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in members:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            used = times.user + times.system + times.children_user + times.children_system
            totals[name] = totals.get(name, 0.0) + used
    return totals


def member_labels(name: str, root: psutil.Process) -> list[tuple[str, psutil.Process]]:
    """Each member of a named process tree with what it is, e.g. ``("web master", ...)``, ``("worker sentinel", ...)``.

    gunicorn: its master and its workers. django-q2's cluster (``manage.py qcluster``): its main process, the
    sentinel it forks, and the sentinel's children in the order it spawns them (django_q/cluster.py,
    ``spawn_cluster``): the workers, the monitor, the pusher (a recycled worker, spawned later, comes last).
    Anything else: its main process and its children by age.
    """
    members: list[tuple[str, psutil.Process]] = [(f"{name} {'master' if name == 'web' else 'main'}", root)]
    children = sorted(root.children(), key=lambda child: child.create_time())
    if name == "worker":
        for sentinel in children:
            members.append((f"{name} sentinel", sentinel))
            grandchildren = sorted(sentinel.children(recursive=True), key=lambda child: child.create_time())
            workers = int(os.environ.get("Q_WORKERS", "2"))
            for position, member in enumerate(grandchildren):
                if position < workers:
                    role = f"worker {position + 1}"
                else:
                    role = {workers: "monitor", workers + 1: "pusher"}.get(position, f"child {position + 1}")
                members.append((f"{name} {role}", member))
        return members
    descendants = sorted(root.children(recursive=True), key=lambda child: child.create_time())
    child_name = "worker" if name == "web" else "child"
    members.extend((f"{name} {child_name} {position + 1}", member) for position, member in enumerate(descendants))
    return members


def process_tree_pss(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, int]:
    """Bytes of proportional memory (PSS) of each member of the named process trees, by ``member_labels``.

    PSS shares each page among the processes that map it, so forked workers' common pages count once
    in all; RSS would count them once per worker.
    """
    sizes: dict[str, int] = {}
    for name, process in processes.items():
        try:
            members = member_labels(name, psutil.Process(process.pid))
        except psutil.NoSuchProcess:
            continue
        for label, member in members:
            try:
                sizes[label] = sizes.get(label, 0) + member.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return sizes


class PssSampler:
    """Samples ``process_tree_pss`` every ``interval`` seconds in a thread.

    ``peak`` is the largest sum seen, ``peak_members`` the members' sizes in that sample.
    """

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]], *, interval: float = 1.0) -> None:
        self.processes = processes
        self.interval = interval
        self.peak = 0
        self.peak_members: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pss-sampler", daemon=True)

    def _sample(self) -> None:
        members = process_tree_pss(self.processes)
        if sum(members.values()) > self.peak:
            self.peak, self.peak_members = sum(members.values()), members

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._sample()
        return self.peak

    def by_process(self) -> dict[str, float]:
        """MiB of the peak sample by process (web, worker, dispatcher): each one's members together."""
        totals: dict[str, float] = {}
        for label, size in self.peak_members.items():
            name = label.split(" ", 1)[0]
            totals[name] = totals.get(name, 0.0) + size / 2**20
        return {name: round(total, 1) for name, total in totals.items()}

    def by_member(self) -> dict[str, float]:
        """MiB of the peak sample by member (``member_labels``)."""
        return {label: round(size / 2**20, 1) for label, size in self.peak_members.items()}


def wait_until_up(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    end = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[Any], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def generate(*, prepared: list[dict[str, Any]], rate: float, seconds: float, dms: bool) -> dict[str, list[int]]:
    """Send ``rate`` events a second for ``seconds`` from a small pool of threads. Returns the sandbox ids made."""
    from django.db import close_old_connections

    from sandbox.models import SandboxAccount, SandboxMedia
    from sandbox.services import sandbox_comment_post, sandbox_follower_message

    media = {
        item["media_id"]: SandboxMedia.objects.select_related("account").get(pk=item["media_id"]) for item in prepared
    }
    accounts = {
        item["sandbox_account_id"]: SandboxAccount.objects.get(pk=item["sandbox_account_id"]) for item in prepared
    }
    made: dict[str, list[int]] = {"comments": [], "messages": [], "errors": []}
    lock = threading.Lock()

    def one(index: int) -> None:
        item = prepared[index % len(prepared)]
        follower = f"fan{index}"
        try:
            if dms and index % 2:
                message = sandbox_follower_message(
                    account=accounts[item["sandbox_account_id"]], from_username=follower, text="what is the price?"
                )
                with lock:
                    made["messages"].append(message.pk)
            else:
                comment = sandbox_comment_post(media=media[item["media_id"]], from_username=follower, text="price?")
                with lock:
                    made["comments"].append(comment.pk)
        except Exception:
            with lock:
                made["errors"].append(index)
        finally:
            close_old_connections()

    total = int(rate * seconds)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for index in range(total):
            wait = started + index / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            pool.submit(one, index)
    return made


# Events a second one sending process offers at most. A sender is one asyncio loop writing requests made
# beforehand on kept-alive connections (about a tenth of a millisecond each); several are forked beyond this
# rate, so that the load stays open-loop and the senders' own CPU stays small beside the product's.
SENDS_PER_PROCESS = 500
# Connections one sender keeps open at most. An event due while all are waiting for their answers waits for
# one; its ack and its e2e still count from the time it was due, so a slow product is not hidden by a late send.
CONNECTIONS_PER_PROCESS = 400
# What the sending processes send, made before they are forked (inherited, not pickled): per event index,
# (kind, correlation, the whole HTTP request).
_PLAN: list[tuple[str, str, bytes]] = []


def plan_stub(
    *, prepared: list[dict[str, Any]], rate: float, seconds: float, dms: bool, stub: GraphStub, secret: str
) -> None:
    """Sign every webhook of the load and register every follower with the stub, before the load (``_PLAN``)."""
    _PLAN.clear()
    for index in range(int(rate * seconds)):
        item = prepared[index % len(prepared)]
        username = f"fan{index}"
        follower = str(1_900_000_000_000_000 + index)
        if dms and index % 2:
            stub.person_add(igsid=follower, username=username)
            payload = message_webhook(
                account_id=item["ig_user_id"], sender_id=follower, mid=f"bench-mid-{index}", text="what is the price?"
            )
            kind, correlation = "messages", follower
        else:
            comment_id = str(17_860_000_000_000_000 + index)
            stub.comment_add(comment_id=comment_id, commenter_id=follower, username=username)
            payload = comment_webhook(
                account_id=item["ig_user_id"],
                media_id=item["media_id"],
                comment_id=comment_id,
                from_id=follower,
                username=username,
                text="price?",
            )
            kind, correlation = "comments", comment_id
        body, headers = webhook_body(payload=payload, secret=secret)
        _PLAN.append((kind, correlation, http_post(path=WEBHOOK_PATH, body=body, headers=headers)))


WEBHOOK_PATH = "/webhooks/instagram/"


def http_post(*, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 POST to this machine, whole, as the socket carries it (kept alive)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def send_stub(*, rate: float, port: int) -> dict[str, Any]:
    """As ``generate``, with the stub: ``_PLAN`` POSTed at ``rate`` from forked processes, each due time recorded.

    Returns ``{"comments": {comment id: due}, "messages": {sender IGSID: due}, "errors": [...], "acks": [ms]}``
    with ``time.monotonic()`` times (system-wide on Linux), the clock of the stub's ``replies``. Every event
    comes from a new follower, so a DM's reply is told from another's by its recipient. Every webhook is
    signed, and every follower registered with the stub, before the load starts; the load is sent by
    ``ceil(rate / SENDS_PER_PROCESS)`` forked processes, each an asyncio loop, each event at its time.
    """
    import math
    import multiprocessing

    senders = max(1, math.ceil(rate / SENDS_PER_PROCESS))
    started = time.monotonic() + 0.5  # every sender's clock starts together
    with multiprocessing.get_context("fork").Pool(senders) as pool:
        shares = pool.starmap(_share_send, [(share, senders, started, rate, port) for share in range(senders)])
    made: dict[str, Any] = {"comments": {}, "messages": {}, "errors": [], "acks": []}
    for share in shares:
        for key in ("comments", "messages"):
            made[key].update(share[key])
        made["errors"] += share["errors"]
        made["acks"] += share["acks"]
    return made


def _share_send(share: int, senders: int, started: float, rate: float, port: int) -> dict[str, Any]:
    """In a sending process: events ``share``, ``share + senders``, … of ``_PLAN``, each at its time."""
    import asyncio
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    return asyncio.run(_sends(share, senders, started, rate, port))


async def _sends(share: int, senders: int, started: float, rate: float, port: int) -> dict[str, Any]:
    import asyncio

    made: dict[str, Any] = {"comments": {}, "messages": {}, "errors": [], "acks": []}
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(CONNECTIONS_PER_PROCESS)

    async def exchange(request: bytes, *, reused: bool) -> int:
        """POST on a kept-alive connection (a new one if none is idle); the answer's status."""
        reader, writer = idle.pop() if reused else await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            at = head.find(b"content-length:")
            if at >= 0:
                await reader.readexactly(int(head[at + 15 : head.index(b"\r\n", at)]))
        except BaseException:
            writer.close()
            raise
        if b"connection: close" in head:
            writer.close()
        else:
            idle.append((reader, writer))
        return int(head[9:12])

    async def one(index: int, due: float) -> None:
        kind, correlation, request = _PLAN[index]
        status = 0
        async with slots:
            try:
                try:
                    status = await exchange(request, reused=bool(idle))
                except (OSError, asyncio.IncompleteReadError):
                    # A kept-alive connection the server had closed (its keep-alive ran out): once more, anew.
                    status = await exchange(request, reused=False)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                status = 0
        acked = time.monotonic()
        if 200 <= status < 300:
            made[kind][correlation] = due
            made["acks"].append((acked - due) * 1000)
        else:
            made["errors"].append(index)

    # Open loop: each event is sent at its time whatever the answers before it.
    tasks = []
    for index in range(share, len(_PLAN), senders):
        due = started + index / rate
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(index, due)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return made


def replies_stub(made: dict[str, Any], stub: GraphStub) -> tuple[list[float], int]:
    """(e2e milliseconds of the events answered, events without their reply), from the stub's arrivals."""
    latencies = []
    for kind in ("comments", "messages"):
        for correlation, sent in made[kind].items():
            arrived = stub.replies.get(correlation)
            if arrived is not None:
                latencies.append((arrived - sent) * 1000)
    return latencies, len(made["comments"]) + len(made["messages"]) - len(latencies)


def replies(made: dict[str, list[int]]) -> tuple[list[float], int]:
    """(e2e milliseconds of the events answered, events without their reply)."""
    from sandbox.models import SandboxComment, SandboxMessage

    latencies = []
    answered = 0
    first_reply: dict[int, Any] = {}
    for parent_id, timestamp in (
        SandboxComment.objects.filter(parent_id__in=made["comments"], via_api=True)
        .order_by("timestamp")
        .values_list("parent_id", "timestamp")
    ):
        first_reply.setdefault(parent_id, timestamp)
    for pk, timestamp in SandboxComment.objects.filter(pk__in=made["comments"]).values_list("pk", "timestamp"):
        if pk in first_reply:
            answered += 1
            latencies.append((first_reply[pk] - timestamp).total_seconds() * 1000)
    for message in SandboxMessage.objects.filter(pk__in=made["messages"]).select_related("conversation"):
        reply = (
            SandboxMessage.objects.filter(
                conversation=message.conversation, from_follower=False, created_at__gte=message.created_at
            )
            .order_by("created_at")
            .first()
        )
        if reply is not None:
            answered += 1
            latencies.append((reply.created_at - message.created_at).total_seconds() * 1000)
    return latencies, len(made["comments"]) + len(made["messages"]) - answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="Events a second.")
    parser.add_argument("--seconds", type=float, default=20.0, help="How long the load lasts.")
    parser.add_argument("--accounts", type=int, default=5)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--comments-only", action="store_true", help="Comments only (default: every other a DM).")
    parser.add_argument("--drain", type=float, default=20.0, help="Seconds to wait for the last replies.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder (logs, SQLite file).")
    parser.add_argument(
        "--graph",
        choices=("sandbox", "stub"),
        default="sandbox",
        help="Who answers the Graph API: the sandbox (default, correctness) or the in-benchmark stub (speed).",
    )
    parser.add_argument(
        "--history", type=int, default=0, help="Past actions (each with its decision) and inbound events to seed."
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    stub = GraphStub() if args.graph == "stub" else None
    env, web_port = configure(workdir, graph_url=stub.start() if stub is not None else "")
    manage = [sys.executable, str(ROOT / "manage.py")]
    database_ready(env, root=ROOT)

    import django

    django.setup()
    from django.conf import settings

    from devtools.bench_history import history_seed

    prepared = prepare(accounts=args.accounts, graph=args.graph)
    seeding_started = time.monotonic()
    seeded = history_seed(accounts=[item["account"] for item in prepared], rows=args.history)
    seeding_seconds = time.monotonic() - seeding_started
    names = ["web", "worker", "dispatcher"] if stub is not None else ["sandbox", "web", "worker", "dispatcher"]
    logs = {name: open(workdir / f"{name}.log", "wb") for name in names}  # noqa: SIM115
    sandbox_port = settings.SANDBOX_URL.rsplit(":", 1)[1]
    commands = {
        "sandbox": [*manage, "sandbox", "--port", sandbox_port, "--no-webhook-sender"],
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            # The deployed configuration (threaded workers, the application preloaded in the master, the
            # product's logging); the address and the worker count are the benchmark's.
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "instaforge.wsgi",
            "-b",
            f"127.0.0.1:{web_port}",
            "-w",
            str(args.web_workers),
            "--log-level",
            "warning",
        ],
        "worker": [*manage, "qcluster"],
        "dispatcher": [*manage, "dispatch"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    made: dict[str, Any] = {"comments": {}, "messages": {}, "errors": [], "acks": []}

    def outstanding() -> int:
        return replies_stub(made, stub)[1] if stub is not None else replies(made)[1]

    try:
        for name in names:
            # nice(1) execs the command: the same process, measured as before.
            niced = ["nice", "-n", str(BACKGROUND_NICE)] if name in ("worker", "dispatcher") else []
            processes[name] = subprocess.Popen(
                [*niced, *commands[name]], env=env, cwd=ROOT, stdout=logs[name], stderr=subprocess.STDOUT
            )
        if stub is None:
            wait_until_up(int(sandbox_port))
        wait_until_up(web_port)
        time.sleep(3)  # the cluster and the dispatcher import Django and start polling
        instaforge = {name: processes[name] for name in ("web", "worker", "dispatcher")}
        if stub is not None:  # signed before the load and its CPU measurement start
            plan_stub(
                prepared=prepared,
                rate=args.rate,
                seconds=args.seconds,
                dms=not args.comments_only,
                stub=stub,
                secret=settings.INSTAGRAM_APP_SECRET,
            )
        cpu_before = process_tree_cpu(instaforge)
        sampler = PssSampler(instaforge)
        sampler.start()
        started = time.monotonic()
        if stub is not None:
            made = send_stub(rate=args.rate, port=web_port)
        else:
            made = generate(prepared=prepared, rate=args.rate, seconds=args.seconds, dms=not args.comments_only)
        load_ended = time.monotonic()
        sent_seconds = load_ended - started
        if stub is not None and made["acks"]:  # the sends' own window (the senders start 0.5 s in)
            sends = [
                *cast(dict[str, float], made["comments"]).values(),
                *cast(dict[str, float], made["messages"]).values(),
            ]
            sent_seconds = max(sends) - min(sends) + 1 / args.rate
        events = len(made["comments"]) + len(made["messages"])
        drain_until = time.monotonic() + args.drain
        while time.monotonic() < drain_until:
            if outstanding() == 0:
                break
            time.sleep(0.1 if stub is not None else 0.5)
        cpu_after = process_tree_cpu(instaforge)
        pss_peak = sampler.stop()
    finally:
        stop(list(processes.values()))
        for log in logs.values():
            log.close()

    latencies, missed = replies_stub(made, stub) if stub is not None else replies(made)
    detail: dict[str, Any] = {
        "events_sent": events,
        "send_errors": len(made["errors"]),
        "comments": len(made["comments"]),
        "dms": len(made["messages"]),
        "answered": events - missed,
        "seconds": round(sent_seconds, 2),
        "offered_rate": args.rate,
        "accounts": args.accounts,
        "web_workers": args.web_workers,
        "q_workers": env["Q_WORKERS"],
        "cpu_seconds": round(sum(cpu_after.values()) - sum(cpu_before.values()), 2),
        "cpu_seconds_by_process": {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after},
        "history": seeded,
        "history_seconds": round(seeding_seconds, 2),
        "pss_mib_by_process": sampler.by_process(),
        "pss_mib_by_member": sampler.by_member(),
    }
    if stub is not None:
        stub.stop()
        detail["ack_p50_ms"] = round(percentile(list(made["acks"]), 0.50), 1)
        arrivals = [stub.replies[key] for kind in ("comments", "messages") for key in made[kind] if key in stub.replies]
        # When the last reply arrived, counted from the end of the load: how long the backlog took to drain.
        detail["last_reply_after_load_s"] = round(max(arrivals) - load_ended, 2) if arrivals else None
        detail["graph_calls"] = dict(stub.calls)
        detail["graph_unexpected"] = dict(stub.unexpected)
        detail["duplicate_replies"] = stub.duplicates()
    if args.keep:
        detail["logs"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(detail))
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(
        json.dumps(
            {
                "database": "postgresql" if "postgres" in engine else "sqlite" if "sqlite" in engine else engine,
                "broker": settings.BROKER_NAME,
                "events_per_s": round(events / sent_seconds, 1) if sent_seconds else 0.0,
                "e2e_p50_ms": round(percentile(latencies, 0.50), 1),
                "e2e_p99_ms": round(percentile(latencies, 0.99), 1),
                "cpu_ms_per_event": round(
                    (sum(cpu_after.values()) - sum(cpu_before.values())) * 1000 / events if events else 0.0, 2
                ),
                "missed": missed,
                "pss_mib": round(pss_peak / 2**20, 1),
                "history_rows": sum(seeded.values()),
                "graph": args.graph,
                # With the stub: how long Meta waited for each webhook's 200, and replies sent more than once.
                "ack_p99_ms": round(percentile(list(made.get("acks", [])), 0.99), 1),
                "duplicate_replies": detail.get("duplicate_replies", 0),
            }
        )
    )


if __name__ == "__main__":
    main()
