"""Graph API errors as typed exceptions, chosen by Meta's error code.

Meta returns errors as ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``. Only ``TransientError`` may be retried
automatically, and only for calls that cannot double-send.
"""

from __future__ import annotations

from typing import Any


class GraphAPIError(Exception):
    """An error answer from the Graph API (or no usable answer at all)."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str = "",
        status: int | None = None,
        fbtrace_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.status = status
        self.fbtrace_id = fbtrace_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "subcode": self.subcode,
            "type": self.error_type,
            "status": self.status,
            "fbtrace_id": self.fbtrace_id,
        }


class TransientError(GraphAPIError):
    """Temporary trouble on Meta's side (codes 1, 2, HTTP 5xx) or in the network."""


class NotSentError(TransientError):
    """The request never left: the connection could not be made. Safe to send again."""


class OutcomeUnknownError(TransientError):
    """The request may have reached Meta but no answer came back (timeout)."""


class RateLimitedError(GraphAPIError):
    """Codes 4, 17, 32, 613 and the 80000-range business-use-case limits."""


class TokenInvalidError(GraphAPIError):
    """Code 190: the access token expired, was revoked or is malformed."""


class PermissionDeniedError(GraphAPIError):
    """Code 10 and the 200–299 range: the app or token lacks a permission."""


class PolicyBlockedError(GraphAPIError):
    """Code 368: temporarily blocked for policy violations."""


class InvalidParameterError(GraphAPIError):
    """Code 100: invalid parameter or unknown object."""


class OutsideMessagingWindowError(GraphAPIError):
    """Code 10 with subcode 2018278: outside the 24-hour messaging window."""


class PublishingError(GraphAPIError):
    """Content publishing errors (subcodes 2207xxx)."""


RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
TRANSIENT_CODES = frozenset({1, 2})
MESSAGING_WINDOW_SUBCODE = 2018278


def error_from_response(status: int, body: Any) -> GraphAPIError:
    """Map an HTTP status and a decoded body to the matching exception."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        cls: type[GraphAPIError] = TransientError if status >= 500 else GraphAPIError
        return cls(f"HTTP {status} without a Graph API error body", status=status)
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    kwargs: dict[str, Any] = {
        "code": code,
        "subcode": subcode,
        "error_type": str(error.get("type", "")),
        "status": status,
        "fbtrace_id": str(error.get("fbtrace_id", "")),
    }
    message = str(error.get("message") or f"Graph API error {code}")
    return _error_class(code, subcode, status)(message, **kwargs)


def _error_class(code: int | None, subcode: int | None, status: int) -> type[GraphAPIError]:
    if code == 190:
        return TokenInvalidError
    if code in RATE_LIMIT_CODES or (code is not None and 80000 <= code < 81000):
        return RateLimitedError
    if code == 368:
        return PolicyBlockedError
    if subcode == MESSAGING_WINDOW_SUBCODE:
        return OutsideMessagingWindowError
    if code == 10 or (code is not None and 200 <= code <= 299):
        return PermissionDeniedError
    if subcode is not None and 2207000 <= subcode <= 2207999:
        return PublishingError
    if code == 100:
        return InvalidParameterError
    if code in TRANSIENT_CODES or status >= 500:
        return TransientError
    return GraphAPIError


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
