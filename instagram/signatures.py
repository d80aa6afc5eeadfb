"""Meta's signatures: X-Hub-Signature-256 on webhooks, and the ``signed_request`` of the deauthorize and data
deletion callbacks. Both are HMAC-SHA256 with the app secret."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any


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


# --- signed_request: Meta's deauthorize and data deletion callbacks ------------------------------------------
#
# "<base64url signature>.<base64url JSON payload>", the signature being the HMAC-SHA256 of the *encoded* payload
# with the app secret (https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback,
# and https://developers.facebook.com/docs/reference/login/signed-request for the fields). The documented example
# payload is kept in privacy/tests/fixtures/ with its source.

SIGNED_REQUEST_ALGORITHM = "HMAC-SHA256"
# Meta's signed requests are a few hundred characters; anything far longer is not one, and is not decoded.
SIGNED_REQUEST_MAX_LENGTH = 8192
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
# The user id is an app-scoped or Instagram-scoped id: digits in every documented example. Letters, "_" and "-"
# are tolerated; whitespace, separators and control characters are not (the id is stored, logged and matched).
_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SignedRequestInvalid(Exception):
    """A ``signed_request`` refused. Its message is safe to log and to answer with: it never holds the secret,
    nor the request itself."""


class SignedRequestMalformed(SignedRequestInvalid):
    """Not a signed request at all (missing, not base64url, not a JSON object, no user id, another algorithm)."""


class SignedRequestBadSignature(SignedRequestInvalid):
    """Well formed, but not signed with our app secret."""


def _base64url_decode(part: str) -> bytes:
    """Decode base64url with or without its ``=`` padding (Meta sends it without). Raises SignedRequestMalformed."""
    if not _BASE64URL.fullmatch(part):
        raise SignedRequestMalformed("not base64url")
    bare = part.rstrip("=")
    try:
        return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignedRequestMalformed("not base64url") from exc


def _base64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def signed_request_parse(*, signed_request: str, app_secret: str) -> dict[str, Any]:
    """The payload of Meta's ``signed_request``, once its signature is proven. Raises ``SignedRequestInvalid``.

    The signature is checked (constant time) before anything of the payload is decoded, so a forged request
    costs one HMAC and reveals nothing. Then the payload must be a JSON object saying ``"algorithm":
    "HMAC-SHA256"`` (case-insensitive, as Meta's own SDKs compare it) with a ``user_id``, which is returned as
    a string. Padding is optional on both parts. Never raises anything else, whatever the input.
    """
    if not isinstance(signed_request, str) or not signed_request:
        raise SignedRequestMalformed("signed_request is missing")
    if len(signed_request) > SIGNED_REQUEST_MAX_LENGTH or not signed_request.isascii():
        raise SignedRequestMalformed("signed_request is not a signed request")
    encoded_signature, dot, encoded_payload = signed_request.partition(".")
    if not dot or not encoded_signature or not encoded_payload:
        raise SignedRequestMalformed("signed_request is not <signature>.<payload>")
    signature = _base64url_decode(encoded_signature)
    if len(signature) != hashlib.sha256().digest_size:
        raise SignedRequestMalformed("the signature is not an HMAC-SHA256")
    _base64url_decode(encoded_payload)  # the alphabet is checked before the HMAC, the JSON after it
    if not app_secret:
        raise SignedRequestBadSignature("no app secret is configured to check the signature")
    expected = hmac.new(app_secret.encode("utf-8"), encoded_payload.encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise SignedRequestBadSignature("the signature does not match the app secret")
    try:
        payload = json.loads(_base64url_decode(encoded_payload).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise SignedRequestMalformed("the payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignedRequestMalformed("the payload is not a JSON object")
    algorithm = payload.get("algorithm")
    if not isinstance(algorithm, str) or algorithm.upper() != SIGNED_REQUEST_ALGORITHM:
        raise SignedRequestMalformed("the payload's algorithm is not HMAC-SHA256")
    user_id = payload.get("user_id")
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
        raise SignedRequestMalformed("the payload has no user_id")
    user_id = str(user_id)
    if not _USER_ID.fullmatch(user_id):
        raise SignedRequestMalformed("the payload's user_id is not an id")
    payload["user_id"] = user_id
    return payload


def signed_request_build(*, payload: Mapping[str, Any], app_secret: str) -> str:
    """A ``signed_request`` as Meta sends it: base64url without padding, the HMAC-SHA256 over the encoded payload.

    For the sandbox (which plays Meta) and the tests; ``payload`` is sent as given (add ``algorithm`` and
    ``user_id`` for a request the product accepts).
    """
    encoded_payload = _base64url_encode(json.dumps(dict(payload), separators=(",", ":")).encode("utf-8"))
    signature = hmac.new(app_secret.encode("utf-8"), encoded_payload.encode("ascii"), hashlib.sha256).digest()
    return f"{_base64url_encode(signature)}.{encoded_payload}"
