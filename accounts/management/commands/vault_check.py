from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import vault_status


class Command(BaseCommand):
    help = (
        "Check that every stored secret (every field in accounts.vault.ENCRYPTED_FIELDS) decrypts with the "
        "configured TOKEN_ENCRYPTION_KEYS, and whether the older keys can be removed. Prints counts per field, "
        "never a value. Exits with an error while a value is unreadable or still needs an older key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = len(settings.TOKEN_ENCRYPTION_KEYS)
        reports = vault_status()
        for report in reports:
            line = (
                f"{report.entry} ({report.entry.holds}): {report.stored} stored, {report.newest_key} newest key, "
                f"{report.older_key} older key, {report.unreadable} unreadable"
            )
            if report.unreadable_ids:
                shown = ", ".join(f"#{pk}" for pk in report.unreadable_ids)
                more = " …" if report.unreadable > len(report.unreadable_ids) else ""
                line += f" (rows {shown}{more})"
            self.stdout.write(line)
        unreadable = sum(report.unreadable for report in reports)
        older = sum(report.older_key for report in reports)
        problems = []
        if unreadable:
            problems.append(
                f"{unreadable} value(s) cannot be decrypted with any configured key: restore the key they were "
                "written with, or enter them again (reconnect the account, re-enter the secret or the AI key)"
            )
        if older:
            problems.append(
                f"{older} value(s) still need an older key: run `manage.py rotate_token_keys` before removing it"
            )
        if problems:
            raise CommandError("; ".join(problems) + ".")
        if keys > 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Every value decrypts with the newest key: the {keys - 1} older key(s) can be removed."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS("Every value decrypts with the configured key."))
