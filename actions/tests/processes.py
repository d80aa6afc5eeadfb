"""Dispatcher processes for the crash and concurrency tests: ``manage.py dispatch`` against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def test_database_url() -> str:
    """The URL of the database this test runs on (the test database, not the product's)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{quote(str(db['PASSWORD']))}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{quote(str(db['USER']))}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


def dispatcher_env(*, policies: Path, lease_seconds: int = 60) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "instaforge.settings",
            "DATABASE_URL": test_database_url(),
            "INSTAGRAM_GRAPH_URL": settings.INSTAGRAM_GRAPH_URL,
            "SANDBOX_URL": settings.SANDBOX_URL,
            "POLICIES_FILE": str(policies),
            "HUMAN_TIMING": "false",
            "DISPATCHER_POLL_SECONDS": "0.1",
            "DISPATCHER_LEASE_SECONDS": str(lease_seconds),
            "LOG_LEVEL": "ERROR",
        }
    )
    return env


def dispatcher_start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 (our own manage.py)
            [sys.executable, str(ROOT / "manage.py"), "dispatch"], env=env, cwd=ROOT, stdout=out, stderr=out
        )


def processes_stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until(condition: Callable[[], bool], *, timeout: float, every: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(every)
    return condition()
