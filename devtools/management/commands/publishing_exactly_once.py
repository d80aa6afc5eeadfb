import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from devtools.publishing_stress import stress_run, stress_setup, stress_verify
from sandbox.selectors import sandbox_settings
from sandbox.services import sandbox_settings_update
from sandbox.testing import start_sandbox_server


class Command(BaseCommand):
    help = (
        "Exactly-once benchmark: schedule posts across accounts, run several dispatcher processes against the "
        "sandbox with random kills, then check the sandbox's records. PostgreSQL only. Prints JSON."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--posts", type=int, default=1000)
        parser.add_argument("--accounts", type=int, default=20)
        parser.add_argument("--dispatchers", type=int, default=2)
        parser.add_argument("--quota", type=int, default=45, help="The sandbox's publishing quota per account.")
        parser.add_argument("--kill-every", type=float, default=3.0, help="Seconds between random kills (0: none).")
        parser.add_argument("--timeout", type=float, default=600.0)
        parser.add_argument("--container-delay", type=float, default=0.3)
        parser.add_argument("--tag", default="bench")

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("Several dispatcher processes need PostgreSQL: set DATABASE_URL.")
        knobs = sandbox_settings()
        before = {
            "container_delay_seconds": knobs.container_delay_seconds,
            "publishing_quota_total": knobs.publishing_quota_total,
            "app_calls_per_user_per_hour": knobs.app_calls_per_user_per_hour,
        }
        workspace = stress_setup(
            accounts=options["accounts"],
            posts=options["posts"],
            quota=options["quota"],
            container_delay=options["container_delay"],
            tag=options["tag"],
        )
        server = start_sandbox_server()
        try:
            report = stress_run(
                workspace=workspace,
                graph_url=server.url,
                dispatchers=options["dispatchers"],
                kill_every=options["kill_every"],
                timeout=options["timeout"],
            )
        finally:
            server.stop()
            sandbox_settings_update(**before)  # the demo's knobs as they were
        result = {"run": report.__dict__, **stress_verify(workspace=workspace, quota=options["quota"])}
        self.stdout.write(json.dumps(result, indent=2))
