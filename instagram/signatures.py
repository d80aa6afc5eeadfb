"""X-Hub-Signature-256: HMAC-SHA256 of the raw request body with the app secret."""

from __future__ import annotations

import hashlib
import hmac


def signature_for(*, body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(*, body: bytes, header: str | None, secret: str) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC of body>``, compared in constant time. Never raises.

    Header values reach Django as latin-1 text, so a hostile one may hold any
    byte; ``hmac.compare_digest`` refuses non-ASCII ``str`` with a TypeError,
    hence the comparison of bytes, and a non-ASCII header is simply not valid.
    """
    if not header or not header.isascii():
        return False
    expected = signature_for(body=body, secret=secret).encode("ascii")
    return hmac.compare_digest(expected, header.encode("ascii"))
