from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import tokens_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Instagram token under the newest key. Rotation without downtime: "
        "1) put the new key first in TOKEN_ENCRYPTION_KEYS on every process (keep the old one after it), "
        "2) run this command, 3) remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = len(settings.TOKEN_ENCRYPTION_KEYS)
        rewritten = tokens_reencrypt()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rewritten} token(s) under the newest of {keys} key(s)."))
        if keys > 1:
            self.stdout.write("You can now remove the older key(s) from TOKEN_ENCRYPTION_KEYS.")
