"""System checks of the accounts app (``manage.py check`` and every server start)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from accounts.vault import encrypted_fields_invalid, encrypted_fields_unregistered


@checks.register(checks.Tags.security, checks.Tags.models)
def vault_registry_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every field that stores a vault ciphertext is in ``accounts.vault.ENCRYPTED_FIELDS``, and only such fields.

    A field left out would not be re-encrypted by ``rotate_token_keys`` nor
    checked by ``vault_check``, and would stop decrypting once the old key is removed.
    """
    errors: list[checks.CheckMessage] = [
        checks.Error(
            f"{name} looks like an encrypted field but is not in accounts.vault.ENCRYPTED_FIELDS.",
            hint="Register it, so that key rotation re-encrypts it and vault_check checks it.",
            id="accounts.E001",
        )
        for name in encrypted_fields_unregistered()
    ]
    errors += [
        checks.Error(f"accounts.vault.ENCRYPTED_FIELDS: {problem}.", id="accounts.E002")
        for problem in encrypted_fields_invalid()
    ]
    return errors
