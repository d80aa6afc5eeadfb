import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from actions.dispatcher.loop import dispatcher_run, worker_name

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a dispatcher: claims due actions, passes them through the safety gate, executes them. "
        "Run as many as you like."
    )
    # No system checks at start: `manage.py release` runs them (with the deploy ones) before every start, and
    # they import the URLconf and every view, about 13 MiB a dispatcher never uses (docs/performance.md, Memory).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="Seconds to wait when nothing is due and nothing wakes it (DISPATCHER_POLL_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        worker_id = worker_name()
        # Log lines, not the command's output: a dispatcher is a long-running process, its lines JSON in production.
        logger.info("Dispatcher %s running; Ctrl-C to stop", worker_id)
        dispatcher_run(stop=stop, worker_id=worker_id, poll_seconds=options["poll"])
        logger.info("Dispatcher %s stopped", worker_id)
