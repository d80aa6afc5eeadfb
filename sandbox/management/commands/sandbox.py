"""``python manage.py sandbox``: run the local Instagram Platform API emulator."""

from __future__ import annotations

import errno
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.server import serve
from sandbox.webhooks import WebhookSenderLoop


class Command(BaseCommand):
    help = "Serve the Instagram Platform API sandbox (OAuth, Graph API, signed webhooks, follower pages)."

    requires_migrations_checks = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-webhook-sender",
            action="store_true",
            help="Do not run the webhook sender loop (batched, retried and delayed webhooks stay in the outbox).",
        )
        parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on (default 127.0.0.1).")
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="Port to listen on (default SANDBOX_PORT, 8001 unless set; 0 picks a free one).",
        )

    def handle(self, *args: Any, host: str, port: int | None, no_webhook_sender: bool = False, **options: Any) -> None:
        port = settings.SANDBOX_PORT if port is None else port
        sender = None if no_webhook_sender else WebhookSenderLoop()

        def announce(bound_port: int | str) -> None:
            if sender is not None:
                # Once the port is ours. Sends the outbox: batched, duplicated or reordered webhooks, and retries
                # of failed deliveries.
                sender.start()
            self.stdout.write(f"Instagram sandbox on http://{host}:{bound_port}/")
            self.stdout.write(f"Webhooks go to {settings.SANDBOX_WEBHOOK_URL}, signed with INSTAGRAM_APP_SECRET.")
            self.stdout.flush()

        try:
            serve(host, port, on_bind=announce)
        except KeyboardInterrupt:
            self.stdout.write("Sandbox stopped.")
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            # One line that says what to do, not a traceback (`make up` shows it among the other processes').
            raise CommandError(
                f"Port {port} on {host} is busy (another sandbox or program listens there): stop it, or choose "
                f"another port with SANDBOX_PORT (e.g. `SANDBOX_PORT={port + 10} make up`) or --port."
            ) from None
        finally:
            if sender is not None:
                sender.stop()
