"""`manage.py ports_check` (the first step of `make up`): the ports from the settings, or a busy one named."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from devtools.management.commands.ports_check import port_busy


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_free_ports_are_printed_for_the_procfile(settings: Any) -> None:
    settings.WEB_PORT, settings.SANDBOX_PORT = _free_port(), _free_port()
    out = StringIO()
    call_command("ports_check", stdout=out)
    assert out.getvalue().strip() == f"WEB_PORT={settings.WEB_PORT} SANDBOX_PORT={settings.SANDBOX_PORT}"


def test_a_busy_port_is_named_with_the_variable_that_moves_it(settings: Any, busy_port: int) -> None:
    settings.WEB_PORT, settings.SANDBOX_PORT = _free_port(), busy_port
    assert port_busy(host="127.0.0.1", port=busy_port)
    assert not port_busy(host="127.0.0.1", port=settings.WEB_PORT)
    with pytest.raises(CommandError) as raised:
        call_command("ports_check", stdout=StringIO())
    assert str(raised.value) == (
        f"Port {busy_port} (SANDBOX_PORT) on 127.0.0.1 is busy: another `make up` or program listens there. "
        f"Stop it, or choose another port: `SANDBOX_PORT={busy_port + 10} make up`."
    )


def test_the_same_port_twice_is_refused(settings: Any) -> None:
    settings.WEB_PORT = settings.SANDBOX_PORT = _free_port()
    with pytest.raises(CommandError, match="choose two ports"):
        call_command("ports_check", stdout=StringIO())
