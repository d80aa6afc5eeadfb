import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand

from actions.dispatcher.loop import dispatcher_run, worker_name


class Command(BaseCommand):
    help = (
        "Run a dispatcher: claims due actions, passes them through the safety gate, executes them. "
        "Run as many as you like."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--poll", type=float, default=None, help="Seconds to wait when nothing is due.")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        worker_id = worker_name()
        self.stdout.write(f"Dispatcher {worker_id} running; Ctrl-C to stop.")
        dispatcher_run(stop=stop, worker_id=worker_id, poll_seconds=options["poll"])
