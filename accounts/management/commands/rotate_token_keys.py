from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import vault_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (every field in accounts.vault.ENCRYPTED_FIELDS: Instagram tokens, "
        "CRM webhook secrets, AI keys) under the newest key. Idempotent. Rotation without downtime: "
        "1) put the new key first in TOKEN_ENCRYPTION_KEYS on every process (keep the old one after it), "
        "2) run this command, 3) run vault_check, 4) remove the old key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="Rows per transaction (default 200).")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = len(settings.TOKEN_ENCRYPTION_KEYS)
        reports = vault_reencrypt(batch_size=options["batch_size"])
        for report in reports:
            self.stdout.write(
                f"{report.entry} ({report.entry.holds}): {report.stored} stored, {report.rewritten} re-encrypted, "
                f"{report.unreadable} unreadable"
            )
        rewritten = sum(report.rewritten for report in reports)
        unreadable = sum(report.unreadable for report in reports)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rewritten} value(s) under the newest of {keys} key(s)."))
        if unreadable:
            raise CommandError(
                f"{unreadable} value(s) cannot be decrypted with any configured key and were left as they are; "
                "`manage.py vault_check` lists where. They must be entered again (or the lost key restored)."
            )
        if keys > 1:
            self.stdout.write("Run `manage.py vault_check`, then remove the older key(s) from TOKEN_ENCRYPTION_KEYS.")
