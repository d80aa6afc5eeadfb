"""Do the stored secrets decrypt with the keys this process has? The check after a restore.

A database dump without its ``TOKEN_ENCRYPTION_KEYS`` restores every account
with a token no key reads (each must be reconnected), every CRM endpoint with a
secret to re-enter, every AI key to type again. ``deploy/restore-check.sh``
runs this command against a freshly restored database with the keys that were
kept apart, so a backup whose keys are lost or mismatched is found on the day
it is tested, not on the day it is needed.

Unlike ``vault_check`` (which asks "can the older keys be removed?"), a value
that only an older listed key reads counts as readable here: it decrypts with
the configured keys, which is all a restore needs.
"""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.selectors import vault_status


class Command(BaseCommand):
    help = (
        "Check that every stored secret (every field in accounts.vault.ENCRYPTED_FIELDS: Instagram tokens, CRM "
        "webhook secrets, AI keys, Slack alert URLs) decrypts with the configured TOKEN_ENCRYPTION_KEYS: counts per "
        "field and the row ids of the values that do not (never a value). Exits with an error when any does not. "
        "Run it after restoring a backup (deploy/restore-check.sh does)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = len(settings.TOKEN_ENCRYPTION_KEYS)
        reports = vault_status()
        self.stdout.write(f"Stored secrets against the {keys} configured TOKEN_ENCRYPTION_KEYS:")
        for report in reports:
            readable = report.newest_key + report.older_key
            self.stdout.write(
                f"  {report.entry} ({report.entry.holds}): {report.stored} stored, {readable} decrypt, "
                f"{report.unreadable} do not"
            )
            if report.unreadable_ids:
                shown = ", ".join(f"#{pk}" for pk in report.unreadable_ids)
                more = report.unreadable - len(report.unreadable_ids)
                self.stdout.write(f"    do not decrypt: rows {shown}" + (f" and {more} more" if more else ""))
        stored = sum(report.stored for report in reports)
        unreadable = sum(report.unreadable for report in reports)
        if unreadable:
            if unreadable == stored:
                cause = (
                    f"none of the {stored} stored secret(s) decrypts with the configured TOKEN_ENCRYPTION_KEYS: "
                    "these are not the keys this database's secrets were written with (a dump restored with the "
                    "wrong keys, or taken before a key rotation: it needs the key that was current then)"
                )
            else:
                cause = (
                    f"{unreadable} of the {stored} stored secret(s) do not decrypt with the configured "
                    "TOKEN_ENCRYPTION_KEYS: a key they were written with is missing from the list"
                )
            raise CommandError(
                f"{cause}. Add the key(s) they were written with to TOKEN_ENCRYPTION_KEYS (after the newest); "
                "without them the accounts listed must be reconnected and the other secrets entered again."
            )
        self.stdout.write(self.style.SUCCESS(f"All {stored} stored secret(s) decrypt with the configured keys."))
