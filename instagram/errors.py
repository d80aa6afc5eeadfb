"""Graph API errors as typed exceptions, chosen by Meta's error code and subcode.

graph.instagram.com answers errors as ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``
(https://developers.facebook.com/docs/graph-api/guides/error-handling); the
code exchange on api.instagram.com answers a flat ``{"error_type", "code",
"error_message"}`` (Business Login page, "Sample Rejected Response",
instagram/tests/fixtures/meta/oauth_short_lived_token_error.json). Both become
the same exceptions here.

Only ``TransientError`` may be retried automatically, and only for calls that
cannot double-send. The table below is the whole mapping; ``_error_class``
walks it in order, so the first matching row wins.

| exception | codes | source |
| --- | --- | --- |
| ``PublishingLimitError`` | 9 with subcode 2207042 | content publishing error codes |
| ``PublishingError`` | any subcode 2207000–2207999 | content publishing error codes |
| ``TokenInvalidError`` | 190, 102 (subcodes 458 459 460 463 464 467 492) | error-handling guide |
| ``RateLimitedError`` | 4, 17, 32, 341, 613, 80000–80099 (80002 Instagram, 80006 Messenger) | rate-limiting page |
| ``PolicyBlockedError`` | 368 | error-handling guide |
| ``OutsideMessagingWindowError`` | 10 with subcode 2018278 (Send API) or 2534022 (seen live) | see below |
| ``PrivateReplyUsedError`` | 10 with subcode 2534025 (seen live) | see below |
| ``PermissionDeniedError`` | 3, 10, 200–299 | error-handling guide |
| ``InvalidParameterError`` | 100 | Graph reference error tables |
| ``TransientError`` | 1, 2, HTTP 5xx, ``is_transient: true`` | error-handling guide |

Messaging: Meta documents ``(#10) This message is sent outside of allowed
window`` as code 10 / subcode 2018278 for the Send API. Instagram deliveries
have been reported (third-party code in the public index, not Meta's pages)
with subcode 2534022 for the same refusal and 2534025 for a second private
reply to one comment; both are recognised so a live integration does not
mistake them for a missing permission.
"""

from __future__ import annotations

from typing import Any

from instaforge.redaction import secrets_redact


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
        retry_after_seconds: int | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        # Whatever built the text (an answer's message, a network failure), no credential stays in it.
        message = secrets_redact(message)
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.status = status
        self.fbtrace_id = fbtrace_id
        # From ``estimated_time_to_regain_access`` (minutes) in X-Business-Use-Case-Usage, when Meta sent one.
        self.retry_after_seconds = retry_after_seconds
        self.usage: dict[str, Any] = usage or {}

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": type(self).__name__,
            "message": self.message,
            "code": self.code,
            "subcode": self.subcode,
            "type": self.error_type,
            "status": self.status,
            "fbtrace_id": self.fbtrace_id,
            "retry_after_seconds": self.retry_after_seconds,
        }


class TransientError(GraphAPIError):
    """Temporary trouble on Meta's side (codes 1, 2, HTTP 5xx) or in the network."""


class NotSentError(TransientError):
    """The request never left: the connection could not be made. Safe to send again."""


class OutcomeUnknownError(TransientError):
    """The request may have reached Meta but no answer came back (timeout)."""


class RateLimitedError(GraphAPIError):
    """Codes 4, 17, 32, 341, 613 and the 80000-range business-use-case limits (80002 is Instagram's)."""


class TokenInvalidError(GraphAPIError):
    """Code 190 (or 102): the access token expired, was revoked or is malformed; the subcode says which."""

    # Subcodes of 190/102 in the error-handling guide.
    SUBCODE_REASONS = {
        458: "app_not_installed",
        459: "user_checkpointed",
        460: "password_changed",
        463: "expired",
        464: "unconfirmed_user",
        467: "invalid_access_token",
        492: "invalid_session",
    }

    @property
    def reason(self) -> str:
        """A stable word for the subcode (``"expired"``, ``"app_not_installed"``…), ``"invalid"`` without one."""
        return self.SUBCODE_REASONS.get(self.subcode or 0, "invalid")


class PermissionDeniedError(GraphAPIError):
    """Codes 3, 10 and the 200–299 range: the app or token lacks a permission."""


class PolicyBlockedError(GraphAPIError):
    """Code 368: temporarily blocked for policy violations."""


class InvalidParameterError(GraphAPIError):
    """Code 100: invalid parameter or unknown object."""


class OutsideMessagingWindowError(PermissionDeniedError):
    """Code 10 with subcode 2018278 (or 2534022): outside the 24-hour messaging window."""


class PrivateReplyUsedError(PermissionDeniedError):
    """Code 10 with subcode 2534025: the comment's single private reply was already sent (or it is too old)."""


class PublishingError(GraphAPIError):
    """Content publishing errors (subcodes 2207xxx)."""


class PublishingLimitError(PublishingError, RateLimitedError):
    """Code 9 / subcode 2207042: the account reached its publishing limit for the rolling 24 hours."""


RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613})
BUSINESS_USE_CASE_CODES = range(80000, 80100)
TOKEN_CODES = frozenset({190, 102})
PERMISSION_CODES = frozenset({3, 10})
TRANSIENT_CODES = frozenset({1, 2})
POLICY_BLOCK_CODE = 368
INVALID_PARAMETER_CODE = 100
MESSAGING_WINDOW_SUBCODES = frozenset({2018278, 2534022})
MESSAGING_WINDOW_SUBCODE = 2018278
PRIVATE_REPLY_USED_SUBCODE = 2534025
PUBLISHING_SUBCODES = range(2207000, 2208000)
PUBLISHING_LIMIT_SUBCODE = 2207042


def error_from_response(status: int, body: Any, *, usage: dict[str, Any] | None = None) -> GraphAPIError:
    """Map an HTTP status, a decoded body and the parsed usage headers to the matching exception."""
    retry_after = retry_after_seconds(usage or {})
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) and isinstance(body, dict) and "error_type" in body:
        # The flat OAuth shape of api.instagram.com: {"error_type", "code", "error_message"}.
        # Its "code" is the HTTP status (400), not a Graph code, so the class follows the status.
        message = str(body.get("error_message") or f"OAuth error (HTTP {status})")
        flat_class: type[GraphAPIError] = TransientError if status >= 500 else InvalidParameterError
        return flat_class(message, error_type=str(body.get("error_type", "")), status=status, usage=usage)
    if not isinstance(error, dict):
        cls: type[GraphAPIError] = TransientError if status >= 500 else GraphAPIError
        return cls(f"HTTP {status} without a Graph API error body", status=status, usage=usage)
    code = _int_or_none(error.get("code"))
    subcode = _int_or_none(error.get("error_subcode"))
    message = str(error.get("message") or f"Graph API error {code}")
    error_class = _error_class(code, subcode, status)
    if error_class is GraphAPIError and error.get("is_transient") is True:
        error_class = TransientError
    return error_class(
        message,
        code=code,
        subcode=subcode,
        error_type=str(error.get("type", "")),
        status=status,
        fbtrace_id=str(error.get("fbtrace_id", "")),
        retry_after_seconds=retry_after,
        usage=usage,
    )


def _error_class(code: int | None, subcode: int | None, status: int) -> type[GraphAPIError]:
    if subcode == PUBLISHING_LIMIT_SUBCODE:
        return PublishingLimitError
    if subcode is not None and subcode in PUBLISHING_SUBCODES:
        return PublishingError
    if code in TOKEN_CODES:
        return TokenInvalidError
    if code in RATE_LIMIT_CODES or (code is not None and code in BUSINESS_USE_CASE_CODES):
        return RateLimitedError
    if code == POLICY_BLOCK_CODE:
        return PolicyBlockedError
    if subcode in MESSAGING_WINDOW_SUBCODES:
        return OutsideMessagingWindowError
    if subcode == PRIVATE_REPLY_USED_SUBCODE:
        return PrivateReplyUsedError
    if code in PERMISSION_CODES or (code is not None and 200 <= code <= 299):
        return PermissionDeniedError
    if code == INVALID_PARAMETER_CODE:
        return InvalidParameterError
    if code in TRANSIENT_CODES or status >= 500:
        return TransientError
    return GraphAPIError


def retry_after_seconds(usage: dict[str, Any]) -> int | None:
    """The longest ``estimated_time_to_regain_access`` in X-Business-Use-Case-Usage, in seconds (Meta sends minutes).

    None when no header says so; 0 means "not throttled".
    """
    business = usage.get("business_use_case")
    if not isinstance(business, dict):
        return None
    minutes: list[int] = []
    for entries in business.values():
        for entry in entries if isinstance(entries, list) else []:
            value = _int_or_none(entry.get("estimated_time_to_regain_access")) if isinstance(entry, dict) else None
            if value is not None:
                minutes.append(value)
    return max(minutes) * 60 if minutes else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
