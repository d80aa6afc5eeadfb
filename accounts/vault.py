"""Secrets encrypted at rest with MultiFernet, and the one registry of where they are stored.

``TOKEN_ENCRYPTION_KEYS`` lists keys newest first: new values are encrypted
with the first key, any listed key decrypts. A value that no key decrypts
raises ``TokenDecryptionError``; it is never returned as garbage.

``ENCRYPTED_FIELDS`` names every model field that holds a vault ciphertext.
Key rotation (``rotate_token_keys``) and the check before an old key is
removed (``vault_check``) walk this registry and nothing else, so a field
missing from it would silently stop decrypting once the old key is gone.
The rule that keeps it complete: **a field that stores a vault ciphertext is
named ``*_encrypted``, and every such field is registered here**. The system
check ``accounts.E001`` (``manage.py check``) and a test enforce it, and a test
also scans the database for Fernet tokens stored in any other column.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

# The suffix that marks a field holding a vault ciphertext (see the module docstring).
ENCRYPTED_FIELD_SUFFIX = "_encrypted"


@dataclass(frozen=True)
class EncryptedField:
    """One model field that stores vault ciphertexts (an empty string means "nothing stored")."""

    model_label: str  # "app_label.ModelName"
    field_name: str
    holds: str  # what it holds, for the operators' reports

    def __str__(self) -> str:
        return f"{self.model_label}.{self.field_name}"

    def model(self) -> type[models.Model]:
        return apps.get_model(self.model_label)


ENCRYPTED_FIELDS: tuple[EncryptedField, ...] = (
    EncryptedField("accounts.InstagramAccount", "access_token_encrypted", "Instagram access tokens"),
    EncryptedField("integrations.WebhookEndpoint", "secret_encrypted", "CRM webhook signing secrets"),
    EncryptedField("messaging.MessagingSettings", "ai_api_key_encrypted", "AI API keys"),
    EncryptedField("alerts.AlertSettings", "slack_webhook_url_encrypted", "Slack webhook URLs for alerts"),
)


# How many row ids of unreadable values a report keeps (to tell the operator where to look).
UNREADABLE_IDS_SHOWN = 20


@dataclass
class VaultFieldReport:
    """How the values of one registered field stand against the configured keys. Never holds a value."""

    entry: EncryptedField
    stored: int = 0  # non-empty values
    newest_key: int = 0  # readable with the newest key (after a rotation: including those rewritten)
    older_key: int = 0  # readable only with an older key: removing that key would lose them
    unreadable: int = 0  # no configured key reads them: they must be entered again
    rewritten: int = 0  # re-encrypted under the newest key by this run
    unreadable_ids: list[object] = field(default_factory=list)

    def count(self, key_index: int | None, pk: object) -> None:
        self.stored += 1
        if key_index is None:
            self.unreadable += 1
            if len(self.unreadable_ids) < UNREADABLE_IDS_SHOWN:
                self.unreadable_ids.append(pk)
        elif key_index == 0:
            self.newest_key += 1
        else:
            self.older_key += 1


def encrypted_fields_unregistered(*, among: Iterable[type[models.Model]] | None = None) -> list[str]:
    """Concrete model fields named ``*_encrypted`` that ``ENCRYPTED_FIELDS`` does not list (``app.Model.field``).

    Looks at every installed model, or at ``among``.
    """
    registered = {(entry.model_label.lower(), entry.field_name) for entry in ENCRYPTED_FIELDS}
    missing = []
    for model in apps.get_models() if among is None else among:
        if model._meta.proxy:
            continue
        for model_field in model._meta.concrete_fields:
            name = model_field.name
            if name.endswith(ENCRYPTED_FIELD_SUFFIX) and (model._meta.label_lower, name) not in registered:
                missing.append(f"{model._meta.label}.{name}")
    return missing


def encrypted_fields_invalid() -> list[str]:
    """Registry entries that do not name an installed model's text field."""
    problems = []
    for entry in ENCRYPTED_FIELDS:
        try:
            field = entry.model()._meta.get_field(entry.field_name)
        except (LookupError, FieldDoesNotExist):
            problems.append(f"{entry}: no such model field")
            continue
        if not isinstance(field, models.TextField | models.CharField):
            problems.append(f"{entry}: a {type(field).__name__}, not a text field")
    return problems


class TokenDecryptionError(Exception):
    """No configured key decrypts this token."""


@lru_cache(maxsize=4)
def _fernets(keys: tuple[str, ...]) -> tuple[Fernet, ...]:
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty.")
    try:
        return tuple(Fernet(key.encode()) for key in keys)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes)."
        ) from exc


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet(list(_fernets(keys)))


def _vault() -> MultiFernet:
    return _multifernet(tuple(settings.TOKEN_ENCRYPTION_KEYS))


def token_encrypt(*, plaintext: str) -> str:
    return _vault().encrypt(plaintext.encode()).decode()


def token_decrypt(*, ciphertext: str) -> str:
    if not ciphertext:
        raise TokenDecryptionError("No token is stored.")
    try:
        return _vault().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionError("The stored token cannot be decrypted with any configured key.") from exc


def token_key_index(*, ciphertext: str) -> int | None:
    """The position in ``TOKEN_ENCRYPTION_KEYS`` of the key that decrypts ``ciphertext`` (0 is the newest), or None."""
    if not ciphertext:
        return None
    data = ciphertext.encode()
    for index, fernet in enumerate(_fernets(tuple(settings.TOKEN_ENCRYPTION_KEYS))):
        try:
            fernet.decrypt(data)
        except InvalidToken:
            continue
        return index
    return None


def token_reencrypt(*, ciphertext: str) -> str:
    """Re-encrypt under the newest key (for key rotation)."""
    try:
        return _vault().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionError("The stored token cannot be decrypted with any configured key.") from exc
