"""bench/pipeline.py, run small against its Graph API stub over a seeded history: its last line and the replies.

A real run (gunicorn, the cluster, a dispatcher, a fresh database migrated), so marked slow: about 20–40 s on a
shared 2-core machine. On PostgreSQL it uses a database of its own next to the tests' (the benchmark deletes
its previous run's rows); otherwise a temporary SQLite file. Always django-q2's ORM broker: the benchmark purges
its broker's queue, which must not be a Redis database something else is using.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

ROOT = Path(settings.BASE_DIR)
OLD_KEYS = {"database", "broker", "events_per_s", "e2e_p50_ms", "e2e_p99_ms", "cpu_ms_per_event", "missed"}


def bench_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        base, _, name = url.rpartition("/")
        env["DATABASE_URL"] = f"{base}/{name.split('?')[0]}_benchpipe"
    return env


def test_the_stub_records_every_reply_and_the_last_line_carries_the_new_keys() -> None:
    command = [
        sys.executable,
        str(ROOT / "bench" / "pipeline.py"),
        "--graph",
        "stub",
        "--history",
        "1000",
        "--rate",
        "10",
        "--seconds",
        "2",
        "--accounts",
        "2",
        "--drain",
        "30",
    ]
    run = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        command, env=bench_env(), cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    detail, last = json.loads(lines[-2]), json.loads(lines[-1])

    assert set(last) == OLD_KEYS | {"pss_mib", "history_rows", "graph", "ack_p99_ms", "duplicate_replies"}
    assert last["graph"] == "stub"
    assert last["history_rows"] == 3000  # 1,000 actions, their 1,000 decisions, 1,000 inbound events
    assert detail["history"] == {"actions": 1000, "decisions": 1000, "inbound_events": 1000}
    assert last["missed"] == 0 and detail["send_errors"] == 0
    assert detail["events_sent"] == 20 and detail["comments"] == 10 and detail["dms"] == 10
    # Each reply reached the stub once, and the pipeline made no call the stub does not serve.
    # A DM's typing indicator (a sender action) goes out with it.
    assert detail["graph_calls"]["comment_reply"] == 10 and detail["graph_calls"]["message"] == 10
    assert detail["graph_calls"]["sender_action"] == 10
    assert detail["duplicate_replies"] == 0 == last["duplicate_replies"] and detail["graph_unexpected"] == {}
    assert 0 < detail["ack_p50_ms"] <= last["ack_p99_ms"] < 10_000 and detail["last_reply_after_load_s"] is not None
    assert 0 < last["e2e_p50_ms"] <= last["e2e_p99_ms"]
    assert last["pss_mib"] > 50  # gunicorn, the cluster and the dispatcher, each a Django process
