"""Secrets never leave the vault in clear: one redaction for every text that is logged, stored or shown.

Used by the log filter (``instaforge.logfilters``) and by every service that
stores an error text (the ledger, safety events, account transitions, inbound
events, integration deliveries, publishing). ``instagram.client`` builds its
errors without any secret in the first place; this is the second line, for
whatever text a library or an answer may carry.

What counts as a secret here:

- the value of a credential parameter in a query string or a form body
  (``access_token=…``, ``client_secret=…``, ``code=…`` …), also URL-encoded
  (``access_token%3D…`` inside another URL's parameter);
- the value of such a key in JSON or a Python repr (``"access_token": "…"``);
- an ``Authorization`` header's credentials (``Bearer …``, ``OAuth …``);
- a bare Instagram or Facebook access token (``IGAA…``, ``IGQV…``, ``EAA…``);
- the media store's credentials: a presigned URL's signature, credential scope and session token
  (``X-Amz-Signature=…``, ``X-Amz-Credential=…``, ``X-Amz-Security-Token=…``; Signature V2's
  ``Signature=…``, also in a Signature V4 ``Authorization`` header), an AWS secret key or
  session token by its name (``aws_secret_access_key``, ``AWS_SECRET_ACCESS_KEY=…``), and a bare AWS
  access key id (``AKIA…``, ``ASIA…``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "[redacted]"

# Query-string and form parameters that carry a credential in Instagram Login, the Graph API and webhooks.
SECRET_PARAMETERS = (
    "access_token",
    "client_secret",
    "code",
    "fb_exchange_token",
    "input_token",
    "refresh_token",
    "appsecret_proof",
    "signed_request",
    "hub.verify_token",
    "verify_token",
    "password",
    # The media store (S3): a presigned URL's query, and boto3's and the environment's names for its secrets.
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "Signature",  # a Signature V2 presigned URL's, and the one in a Signature V4 Authorization header
    "aws_secret_access_key",
    "aws_session_token",
    "aws_security_token",
)
# The same as keys of JSON objects or Python dicts. Not ``code``: Graph errors carry a numeric ``"code": 190``.
SECRET_KEYS = tuple(name for name in SECRET_PARAMETERS if name != "code")

_NAMES = "|".join(re.escape(name) for name in SECRET_PARAMETERS)
# A whole parameter name (not ``zipcode``, not ``status_code``), then ``=`` or its URL-encoded ``%3D``; the value
# runs to the next separator (``&`` or its encoded ``%26``, a space, a quote, an angle bracket).
_PARAMETER = re.compile(
    r"(?:(?<=%26)|(?<=%3F)|(?<![A-Za-z0-9_.-]))((?:" + _NAMES + r")(?:=|%3D))((?:(?!%26)[^&\s\"'<>\\])+)", re.IGNORECASE
)
_KEY_VALUE = re.compile(
    r"""(["']?(?:""" + "|".join(re.escape(name) for name in SECRET_KEYS) + r""")["']?\s*[:=]\s*["'])([^"']+)""",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(r"\b(Bearer|OAuth)(\s+)[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE)
# Instagram Login tokens begin with IGAA (new) or IGQV/IGQW (older), Facebook Login ones with EAA; an AWS
# access key id (long-term AKIA, temporary ASIA) is 20 capitals and digits.
_BARE_TOKEN = re.compile(r"\b(?:(?:IGAA|IGQV|IGQW|EAA)[A-Za-z0-9_-]{20,}|(?:AKIA|ASIA)[A-Z0-9]{16}\b)")
# Cheap test before the regular expressions: most texts hold none of these.
_MARKERS = re.compile(
    r"token|secret|code|proof|signed_request|password|bearer|oauth|IGAA|IGQ|EAA|amz-|AKIA|ASIA|signature", re.IGNORECASE
)


def secrets_redact(text: str) -> str:
    """``text`` with every credential (see the module's list) replaced by ``[redacted]``."""
    if not text or not _MARKERS.search(text):
        return text
    text = _PARAMETER.sub(r"\1" + REDACTED, text)
    text = _KEY_VALUE.sub(r"\1" + REDACTED, text)
    text = _AUTHORIZATION.sub(r"\1\2" + REDACTED, text)
    return _BARE_TOKEN.sub(REDACTED, text)


def url_redact(url: str) -> str:
    """``url`` without what may carry a secret: its query string and fragment redacted, its user and password dropped.

    ``https://graph.instagram.com/v21.0/me?fields=id&access_token=IGAA…`` becomes
    ``https://graph.instagram.com/v21.0/me?[redacted]``.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # not even a URL: redact what looks like a query
        return url.split("?", 1)[0] + (f"?{REDACTED}" if "?" in url else "")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return urlunsplit(
        (parts.scheme, netloc, parts.path, REDACTED if parts.query else "", REDACTED if parts.fragment else "")
    )


def value_redact(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, text) with every text redacted, and the value of every secret key."""
    if isinstance(value, str):
        return secrets_redact(value)
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and key.lower() in SECRET_KEYS and item else value_redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [value_redact(item) for item in value]
    return value
