"""bench/dispatch_profile.py, run small: every planned action succeeds against the stub, and its lines' keys.

A real run (a stub in a child process, a database migrated), so marked slow. On PostgreSQL it uses a database of
its own next to the tests' (the run deletes its previous workspace); otherwise a temporary SQLite file.
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


def bench_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        base, _, name = url.rpartition("/")
        env["DATABASE_URL"] = f"{base}/{name.split('?')[0]}_benchprofile"
    return env


@pytest.mark.parametrize("mode", ["inline", "pool"])
def test_each_planned_action_succeeds_and_the_figures_are_printed(mode: str) -> None:
    command = [
        *(sys.executable, str(ROOT / "bench" / "dispatch_profile.py"), "--mode", mode, "--dms"),
        *("--actions", "12", "--accounts", "3", "--rounds", "1"),
    ]
    run = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
        command, env=bench_env(), cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.strip().splitlines()]
    (round_line,), last = lines[:-1], lines[-1]
    # A third of the events are DMs, each after its typing indicator: 16 actions.
    assert round_line["planned"] == round_line["succeeded"] == 16
    assert round_line["statements_per_action"] > 0
    assert last["mode"] == mode and last["cpu_ms_per_action_median"] > 0
