"""Tokens encrypted at rest with MultiFernet.

``TOKEN_ENCRYPTION_KEYS`` lists keys newest first: new tokens are encrypted
with the first key, any listed key decrypts. A token that no key decrypts
raises ``TokenDecryptionError``; it is never returned as garbage.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class TokenDecryptionError(Exception):
    """No configured key decrypts this token."""


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEYS is empty.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64-encoded bytes)."
        ) from exc


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


def token_reencrypt(*, ciphertext: str) -> str:
    """Re-encrypt under the newest key (for key rotation)."""
    try:
        return _vault().rotate(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise TokenDecryptionError("The stored token cannot be decrypted with any configured key.") from exc
