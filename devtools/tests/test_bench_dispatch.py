"""bench/dispatch.py, run small against its Graph API stub: every reply sent once, and its last line's keys.

A real run (two ``manage.py dispatch`` processes, a fresh database migrated), so marked slow: about 20–40 s on
a shared 2-core machine. On PostgreSQL it uses a database of its own next to the tests' (the benchmark deletes
its previous run's rows); otherwise a temporary SQLite file.
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
OLD_KEYS = {
    "database",
    "dispatchers",
    "gate_decisions_per_s",
    "executed_per_s",
    "gate_decisions_per_s_while_sending",
    "lag_p50_ms",
    "lag_p99_ms",
    "duplicates",
    "cap_overshoot",
}


def bench_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        base, _, name = url.rpartition("/")
        env["DATABASE_URL"] = f"{base}/{name.split('?')[0]}_benchdispatch"
    return env


def test_against_the_stub_each_reply_is_sent_once_and_the_last_line_keeps_its_keys() -> None:
    command = [
        *(sys.executable, str(ROOT / "bench" / "dispatch.py"), "--graph", "stub", "--dispatchers", "2"),
        *("--accounts", "2", "--backlog", "20", "--paced", "4", "--rate", "10", "--timeout", "150"),
    ]
    run = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        command, env=bench_env(), cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()
    detail, last = json.loads(lines[-2]), json.loads(lines[-1])

    assert OLD_KEYS | {"graph"} <= set(last)
    assert last["graph"] == "stub" and last["duplicates"] == 0 and last["cap_overshoot"] == 0
    # Each action that succeeded on the ledger is one reply the stub received, and nothing else was called.
    assert detail["stub_reply_calls"] == detail["ledger_succeeded"] > 0
    assert detail["stub_unexpected"] == {}
