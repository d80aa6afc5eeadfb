"""``python manage.py sandbox_faults``: inject faults into the sandbox, list and clear them, tune its knobs.

Examples::

    manage.py sandbox_faults add --kind error --code 4 --account demo_bakery --times 3 --path-pattern replies
    manage.py sandbox_faults add --kind latency --ms 800
    manage.py sandbox_faults add --kind status --status 503
    manage.py sandbox_faults add --kind timeout --ms 15000 --method POST
    manage.py sandbox_faults add --kind revoke --account demo_bakery
    manage.py sandbox_faults add --kind policy_block --path-pattern messages
    manage.py sandbox_faults add --kind drop_webhooks --ratio 0.5
    manage.py sandbox_faults list
    manage.py sandbox_faults clear [--id 3]
    manage.py sandbox_faults config [--webhook-batch-size 10 --webhook-duplicate-ratio 0.1 ...]

The faults live in the database, so a running sandbox sees them at once.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import selectors, services
from sandbox.models import SandboxFault
from sandbox.views.control import fault_as_dict


class Command(BaseCommand):
    help = "Inject, list and clear sandbox faults; show or change the sandbox's webhook and publishing knobs."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="Add a fault.")
        add.add_argument("--kind", required=True, choices=SandboxFault.Kind.values)
        add.add_argument("--code", type=int, help="Graph error code (error kind; default 2).")
        add.add_argument("--subcode", type=int, help="Graph error subcode.")
        add.add_argument("--status", type=int, help="HTTP status (status kind; default 503).")
        add.add_argument("--ms", type=int, dest="milliseconds", help="Latency or timeout in milliseconds.")
        add.add_argument("--ratio", type=float, help="Share of webhooks dropped (drop_webhooks; default 1.0).")
        add.add_argument("--account", dest="account_username", default="", help="Only this sandbox username.")
        add.add_argument("--path-pattern", default="", help="Only paths matching this regular expression.")
        add.add_argument("--method", default="", help="Only this HTTP method.")
        add.add_argument("--times", type=int, help="Hit this many requests, then stop (default: until cleared).")
        actions.add_parser("list", help="List active faults.")
        clear = actions.add_parser("clear", help="Clear all faults, or one.")
        clear.add_argument("--id", type=int, dest="fault_id")
        config = actions.add_parser("config", help="Show the knobs, or change some.")
        for name in sorted(services.SETTINGS_FIELDS):
            config.add_argument(f"--{name.replace('_', '-')}", dest=name, type=float)

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if action == "add":
                fields: tuple[str, ...] = ("kind", "code", "subcode", "status", "milliseconds", "ratio")
                fields += ("account_username", "path_pattern", "method", "times")
                fault = services.sandbox_fault_add(**{name: options[name] for name in fields})
                self.stdout.write(f"Added fault #{fault.pk}: {json.dumps(fault_as_dict(fault))}")
            elif action == "list":
                faults = list(selectors.faults_active())
                for fault in faults:
                    self.stdout.write(json.dumps(fault_as_dict(fault)))
                if not faults:
                    self.stdout.write("No active faults.")
            elif action == "clear":
                self.stdout.write(f"Cleared {services.sandbox_faults_clear(fault_id=options['fault_id'])} fault(s).")
            else:
                changes = {name: options[name] for name in services.SETTINGS_FIELDS if options.get(name) is not None}
                row = services.sandbox_settings_update(**changes) if changes else selectors.sandbox_settings()
                for name in sorted(services.SETTINGS_FIELDS):
                    self.stdout.write(f"{name} = {getattr(row, name)}")
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
