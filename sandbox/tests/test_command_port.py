"""`manage.py sandbox` on a busy port: one line naming the port and how to choose another, exit code 1.

It used to end in an AttributeError traceback: socketserver closes a server whose bind failed, and the sandbox's
server_close shut a thread pool that was only made after the bind.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.server import PooledWSGIServer, _KeepAliveHandler

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_busy_port_is_named_in_one_line_with_how_to_choose_another(busy_port: int, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "SANDBOX_PORT"}}
    env |= {"DEBUG": "true", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", "sandbox", "--host", "127.0.0.1", "--port", str(busy_port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = result.stderr.strip().splitlines()
    assert errors == [
        f"CommandError: Port {busy_port} on 127.0.0.1 is busy (another sandbox or program listens there): stop it, "
        f"or choose another port with SANDBOX_PORT (e.g. `SANDBOX_PORT={busy_port + 10} make up`) or --port."
    ]
    assert "Instagram sandbox on" not in result.stdout  # never announced as served


def test_the_server_reports_the_busy_port_as_the_os_does(busy_port: int) -> None:
    with pytest.raises(OSError, match="in use"):
        PooledWSGIServer(("127.0.0.1", busy_port), _KeepAliveHandler)
