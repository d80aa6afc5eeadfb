"""Webhook ingest benchmark: signed deliveries against gunicorn, from another process.

Usage: python bench/webhook_ingest.py [--seconds 10] [--connections 16] [--batch 100] [--workers 4]

Uses DATABASE_URL / REDIS_URL from the environment like the product (SQLite in a
temporary file when DATABASE_URL is unset). Phase 1 sends single-entry
deliveries, phase 2 batched deliveries of --batch entries; every entry is a
distinct comment for a connected account, so each one is routed and stored.
The last line printed is one JSON object:
database, broker, deliveries_per_s, entries_per_s, ack_p50_ms, ack_p99_ms, non_2xx
(deliveries and latencies from phase 1, entries_per_s from phase 2; both phases in detail too), and
web_cpu_ms_per_delivery: the CPU the gunicorn processes spent per single-entry delivery in phase 1 (steadier
than the rates when other work shares the cores). --deployed runs gunicorn with deploy/gunicorn.conf.py
(threaded workers, the product preloaded, the access log) instead of the options below.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.bench_environment import bench_environment  # noqa: E402 (after the path)
from devtools.database_create import database_ready  # noqa: E402

SECRET = "bench-app-secret"
ACCOUNT_ID = "17841400000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            **bench_environment(env),
            "DATABASE_URL": database_url,
            "INSTAGRAM_APP_SECRET": SECRET,
        }
    )
    return env


def prepare(env: dict[str, str]) -> None:
    manage = [sys.executable, str(ROOT / "manage.py")]
    database_ready(env, root=ROOT)
    setup = (
        "from accounts.models import *; from accounts.vault import token_encrypt;"
        "from instagram.models import InboundEvent; from django_q.brokers import get_broker;"
        "InboundEvent.objects.all().delete(); get_broker().purge_queue();"
        "from instaforge.maintenance import database_vacuum; database_vacuum();"
        "w, _ = Workspace.objects.get_or_create(name='Bench');"
        f"InstagramAccount.all_workspaces.get_or_create(ig_user_id='{ACCOUNT_ID}', defaults=dict(workspace=w, "
        "username='bench', state='ACTIVE', access_token_encrypted=token_encrypt(plaintext='x')))"
    )
    subprocess.run([*manage, "shell", "-c", setup], check=True, env=env, cwd=ROOT)


def delivery(first_comment: int, entries: int) -> tuple[bytes, str]:
    now = int(time.time())
    document = {
        "object": "instagram",
        "entry": [
            {
                "id": ACCOUNT_ID,
                "time": now,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "from": {"id": "1234567890123456", "username": "bench_follower"},
                            "media": {"id": "17918195224117851", "media_product_type": "FEED"},
                            "id": str(17_900_000_000_000_000 + first_comment + number),
                            "text": "bench comment without a rule",
                        },
                    }
                ],
            }
            for number in range(entries)
        ],
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    return body, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def request_bytes(body: bytes, signature: str) -> bytes:
    head = (
        "POST /webhooks/instagram/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def connection_loop(
    port: int, requests: list[bytes], deadline: float, latencies: list[float], statuses: list[int]
) -> None:
    """One client connection: send a request, read the whole answer, again (reconnecting when the server closes).

    The requests are built beforehand and the answer's head is read in one call: the client shares the
    machine's two cores with the server, so it spends as little as it can.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests and time.perf_counter() < deadline:
            request = requests.pop()
            started = time.perf_counter()
            writer.write(request)
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15 : head.index(b"\r\n", at)]) if at >= 0 else 0
            if length:
                await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses.append(int(head[9:12]) if head.startswith(b"http/") else 0)
            if b"connection: close" in head:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def drive(port: int, requests: list[bytes], seconds: float, connections: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(connection_loop(port, requests, deadline, latencies, statuses) for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "deliveries": len(latencies),
        "seconds": round(elapsed, 2),
        "deliveries_per_s": round(len(latencies) / elapsed, 1),
        "ack_p50_ms": round(statistics.median(ordered), 2) if ordered else None,
        "ack_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2) if ordered else None,
        "non_2xx": sum(1 for status in statuses if not 200 <= status < 300),
    }


def tree_cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children (gunicorn's master and workers) so far."""
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def wait_until_up(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", help="gunicorn's worker class (sync closes connections).")
    parser.add_argument("--threads", type=int, default=1, help="Threads per worker (gthread).")
    parser.add_argument(
        "--deployed",
        action="store_true",
        help="gunicorn as deployed (-c deploy/gunicorn.conf.py: gthread, preloaded); --workers still applies.",
    )
    args = parser.parse_args()

    temporary = tempfile.TemporaryDirectory(prefix="instaforge-bench-")
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{temporary.name}/bench.sqlite3"
    env = environment(database_url)
    prepare(env)
    port = free_port()
    served = ["-c", str(ROOT / "deploy" / "gunicorn.conf.py")] if args.deployed else []
    if not args.deployed:
        served += ["--worker-class", args.worker_class, "--threads", str(args.threads), "--keep-alive", "30"]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            *served,
            "instaforge.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_until_up(port)
        # Enough distinct deliveries for the time given (more than the server can take).
        single = [request_bytes(*delivery(number * 1, 1)) for number in range(int(args.seconds * 4000))]
        batched = [
            request_bytes(*delivery(10_000_000 + number * args.batch, args.batch))
            for number in range(int(args.seconds * 300))
        ]
        warmup = [request_bytes(*delivery(50_000_000 + number, 1)) for number in range(200)]
        asyncio.run(drive(port, warmup, 2, args.connections))
        cpu_before = tree_cpu_seconds(server.pid)
        phase1 = asyncio.run(drive(port, single, args.seconds, args.connections))
        phase1["web_cpu_ms_per_delivery"] = round(
            (tree_cpu_seconds(server.pid) - cpu_before) * 1000 / max(phase1["deliveries"], 1), 3
        )
        phase2 = asyncio.run(drive(port, batched, args.seconds, args.connections))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        # No worker ran: leave no queued tasks behind for the next benchmark or product run on this broker.
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "shell",
                "-c",
                "from django_q.brokers import get_broker; get_broker().purge_queue()",
            ],
            check=False,
            env=env,
            cwd=ROOT,
        )
        temporary.cleanup()
    phase2["entries_per_s"] = round(phase2["deliveries_per_s"] * args.batch, 1)
    result = {
        "database": "postgresql" if database_url.startswith(("postgres", "pgsql")) else "sqlite",
        "broker": "redis" if os.environ.get("REDIS_URL") else "orm",
        "deliveries_per_s": phase1["deliveries_per_s"],
        "entries_per_s": phase2["entries_per_s"],
        "ack_p50_ms": phase1["ack_p50_ms"],
        "ack_p99_ms": phase1["ack_p99_ms"],
        "non_2xx": phase1["non_2xx"] + phase2["non_2xx"],
        "web_cpu_ms_per_delivery": phase1["web_cpu_ms_per_delivery"],
        "connections": args.connections,
        "gunicorn_workers": args.workers,
        "gunicorn_worker_class": "deployed" if args.deployed else args.worker_class,
        "gunicorn_threads": None if args.deployed else args.threads,
        "single_entry": phase1,
        f"batched_{args.batch}": phase2,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
