"""Floor benchmark: the least CPU one executed action and one pipeline event can cost with this stack, here.

Usage: python bench/floor.py [--calls 1500] [--rounds 3]

The targets of bench/dispatch.py and bench/pipeline.py are CPU budgets in
disguise: 300 executed actions/s on 2 cores leave 6.7 ms of CPU per action for
every process on the machine (dispatchers, the sandbox standing in for Meta,
the database); 5 ms per pipeline event is what InstaForge's own processes may
spend. This measures what the stack itself costs, with no InstaForge logic:

- unit costs, each the median of --rounds rounds of --calls repetitions:
  an ORM ``UPDATE`` of one row by primary key and an ORM ``INSERT`` (CPU of
  this process, and of the database's processes on PostgreSQL), and one HTTP
  call from ``requests.Session`` (keep-alive) to a Django view that only
  answers JSON, served by the sandbox's own server (CPU of each side);
- the floors built from them, counting only what the issues themselves
  require of any design:
  - an executed action: the dispatcher records the intent before the call
    and the outcome after it (two UPDATEs; crash safety), makes the call, and
    the sandbox logs the call (one INSERT; the caps test compares that log
    with the ledger). No claim, no gate, no token or comment lookup;
  - a pipeline event, InstaForge's processes only (what ``cpu_ms_per_event``
    counts): the webhook request is received (HTTP server side), the inbound
    event, the message and the planned reply are stored (three INSERTs;
    nothing lost), and the reply is sent as above (two UPDATEs, the call's
    client side). No broker, no classification, no gate.

Uses DATABASE_URL from the environment (SQLite in a temporary file when unset).
The last line printed is one JSON object: database, cores, the unit costs in
ms (``orm_update_ms``, ``orm_insert_ms``, ``db_ms_per_write`` (PostgreSQL's
own CPU), ``http_client_ms``, ``http_server_ms``), ``executed_action_floor_ms``,
``executed_per_s_ceiling`` (all cores busy with nothing else) and
``pipeline_event_floor_ms``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devtools.bench_environment import bench_environment  # noqa: E402 (after the path)
from devtools.database_create import database_ready  # noqa: E402


def configure(workdir: Path) -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{workdir / 'floor.sqlite3'}")
    os.environ.update(bench_environment(os.environ))


def serve(port: int) -> None:
    """The answering side: the sandbox's server with one view that answers JSON and touches nothing."""
    import django

    django.setup()
    from django.core.servers.basehttp import WSGIRequestHandler
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from sandbox import server

    @csrf_exempt
    def answer(request: HttpRequest) -> JsonResponse:
        return JsonResponse({"id": "17858893269000001"})

    urls = types.ModuleType("floor_urls")
    urls.urlpatterns = [path("answer", answer)]  # type: ignore[attr-defined]
    sys.modules["floor_urls"] = urls
    server.SANDBOX_URLCONF = "floor_urls"
    WSGIRequestHandler.log_message = lambda *args, **kwargs: None  # type: ignore[method-assign]
    server.serve("127.0.0.1", port)


def database_processes() -> list[Any]:
    import psutil

    return [process for process in psutil.process_iter(["name"]) if (process.info["name"] or "").startswith("postgres")]


def cpu_seconds(processes: list[Any]) -> float:
    import psutil

    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):  # a backend that ended meanwhile counts no more
            times = process.cpu_times()
            total += times.user + times.system
    return total


def measure(calls: int, work: Callable[[], None], others: list[Any]) -> tuple[float, float]:
    """CPU ms per repetition of ``work``: (this process, ``others`` together)."""
    before_self, before_others = time.process_time(), cpu_seconds(others)
    for _ in range(calls):
        work()
    return (
        (time.process_time() - before_self) * 1000 / calls,
        (cpu_seconds(others) - before_others) * 1000 / calls,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="instaforge-floor-") as tmp:
        configure(Path(tmp))
        if args.serve:
            serve(args.serve)
            return
        database_ready(os.environ, root=ROOT)
        run(calls=args.calls, rounds=args.rounds)


def run(*, calls: int, rounds: int) -> None:
    import django

    django.setup()
    import psutil
    import requests
    from django.conf import settings
    from django.db import connection

    from sandbox.models import SandboxCall

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    answering = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], cwd=ROOT)
    try:
        url = f"http://127.0.0.1:{port}/answer"
        session = requests.Session()
        for _ in range(100):
            try:
                session.post(url, data={"message": "warm up"}, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        server = [psutil.Process(answering.pid)]
        row = SandboxCall.objects.create(method="POST", path="/floor", status=200)
        # Listed once this process's own backend exists (SQLite's work is in this process anyway).
        database = database_processes() if settings.DATABASE_VENDOR == "postgresql" else []
        params = {"message": "Thanks, it is 20 EUR!", "access_token": "REDACTED"}

        def update() -> None:
            SandboxCall.objects.filter(pk=row.pk).update(status=200)

        def insert() -> None:
            SandboxCall.objects.create(method="POST", path="/floor", params=params, status=200, response={"id": "1"})

        def call() -> None:
            session.post(url, data=params, timeout=5).json()

        figures: dict[str, list[float]] = {key: [] for key in ("update", "update_db", "insert", "insert_db")}
        figures |= {"http_client": [], "http_server": []}
        for _ in range(rounds):
            for name, work in (("update", update), ("insert", insert)):
                own, db = measure(calls, work, database)
                figures[name].append(own)
                figures[f"{name}_db"].append(db)
            client, served = measure(calls, call, server)
            figures["http_client"].append(client)
            figures["http_server"].append(served)
            print(json.dumps({key: round(values[-1], 3) for key, values in figures.items()}), flush=True)
        SandboxCall.objects.filter(path="/floor").delete()
        connection.close()
    finally:
        answering.terminate()
        answering.wait(timeout=10)
    unit = {key: statistics.median(values) for key, values in figures.items()}
    # Dispatcher: intent and outcome (2 UPDATEs) around the call; sandbox: answers and logs the call (1 INSERT).
    executed = (
        2 * unit["update"]
        + unit["http_client"]
        + unit["http_server"]
        + unit["insert"]
        + 2 * unit["update_db"]
        + unit["insert_db"]
    )
    # InstaForge's processes per event: receive the webhook, store event, message and reply (3 INSERTs), send it.
    pipeline = unit["http_server"] + 3 * unit["insert"] + 2 * unit["update"] + unit["http_client"]
    cores = psutil.cpu_count() or 1
    print(
        json.dumps(
            {
                "database": settings.DATABASE_VENDOR,
                "cores": cores,
                "orm_update_ms": round(unit["update"], 2),
                "orm_insert_ms": round(unit["insert"], 2),
                "db_ms_per_write": round((unit["update_db"] + unit["insert_db"]) / 2, 2),
                "http_client_ms": round(unit["http_client"], 2),
                "http_server_ms": round(unit["http_server"], 2),
                "executed_action_floor_ms": round(executed, 2),
                "executed_per_s_ceiling": round(cores * 1000 / executed, 1),
                "pipeline_event_floor_ms": round(pipeline, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
