"""``python manage.py ports_check``: before `make up` starts its processes, say in one line which port is busy.

Without it a busy port showed as one process's traceback among four processes' output, and honcho then stopped
the others. On success it prints ``WEB_PORT=… SANDBOX_PORT=…`` (from the settings: the environment, then .env, then
the defaults 8000 and 8001) for devtools/up to export to the Procfile.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

HOST = "127.0.0.1"


def port_busy(*, host: str, port: int) -> bool:
    """Whether something already listens on host:port (binding it fails with "address in use")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind (SO_REUSEADDR): a port left in TIME_WAIT by a stopped server is not busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


class Command(BaseCommand):
    help = "Check that the demo's web and sandbox ports (WEB_PORT, SANDBOX_PORT) are free; print them."
    requires_system_checks: list[str] = []  # a quick look at two ports, before `make up` starts anything

    def handle(self, *args: Any, **options: Any) -> None:
        ports = {"WEB_PORT": settings.WEB_PORT, "SANDBOX_PORT": settings.SANDBOX_PORT}
        if ports["WEB_PORT"] == ports["SANDBOX_PORT"]:
            raise CommandError(f"WEB_PORT and SANDBOX_PORT are both {ports['WEB_PORT']}: choose two ports.")
        busy = [(name, port) for name, port in ports.items() if port_busy(host=HOST, port=port)]
        if busy:
            name, port = busy[0]
            others = " and ".join(f"{other} {number}" for other, number in busy[1:])
            raise CommandError(
                f"Port {port} ({name}) on {HOST} is busy{f', and so is {others}' if others else ''}: another "
                f"`make up` or program listens there. Stop it, or choose another port: `{name}={port + 10} make up`."
            )
        self.stdout.write(" ".join(f"{name}={port}" for name, port in ports.items()))
