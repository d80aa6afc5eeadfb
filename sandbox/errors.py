"""Error answers, in the shapes Meta sends them.

graph.instagram.com answers with the Graph API error object
(https://developers.facebook.com/docs/graph-api/guides/error-handling):
``{"error": {"message", "type", "code", "error_subcode"?, "fbtrace_id"}}``.
The code exchange on api.instagram.com uses a flat shape of its own
(https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/business-login,
"Sample Rejected Response"): ``{"error_type", "code", "error_message"}``.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

_TRACE_ALPHABET = string.ascii_letters + string.digits + "_-"


def fbtrace_id() -> str:
    """An opaque support id like Meta's (``"EJplcsCHuLu"``)."""
    return "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(11))


def _meta_time(moment: datetime) -> str:
    # The wording of Meta's expired-session message: "Friday, 11-Sep-20 06:41:31 PDT".
    return moment.astimezone(UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")


class SandboxApiError(Exception):
    """An error answer of an emulated endpoint."""

    status = 400

    def body(self) -> dict[str, Any]:
        raise NotImplementedError


class GraphError(SandboxApiError):
    """A Graph API error (graph.instagram.com)."""

    def __init__(
        self,
        message: str,
        *,
        code: int,
        error_type: str = "OAuthException",
        subcode: int | None = None,
        status: int = 400,
        is_transient: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.error_type = error_type
        self.subcode = subcode
        self.status = status
        self.is_transient = is_transient

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.error_type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            # The publishing error sample carries it (instagram/tests/fixtures/meta/error_response.json).
            error["is_transient"] = self.is_transient
        error["fbtrace_id"] = fbtrace_id()
        return {"error": error}

    # --- code 190: the access token ---------------------------------------
    @classmethod
    def token_unparseable(cls) -> GraphError:
        return cls("Invalid OAuth access token - Cannot parse access token", code=190)

    @classmethod
    def token_expired(cls, *, expired_at: datetime) -> GraphError:
        # Subcode 463 "Expired" in the error-handling guide's subcode table.
        message = (
            f"Error validating access token: Session has expired on {_meta_time(expired_at)}. "
            f"The current time is {_meta_time(timezone.now())}."
        )
        return cls(message, code=190, subcode=463)

    @classmethod
    def token_revoked(cls, *, app_id: str) -> GraphError:
        # Subcode 458 "App Not Installed": the person removed the app.
        return cls(
            f"Error validating access token: The user has not authorized application {app_id}.", code=190, subcode=458
        )

    # --- code 100: parameters and objects ----------------------------------
    @classmethod
    def missing_parameter(cls, name: str) -> GraphError:
        return cls(f"(#100) The parameter {name} is required", code=100)

    @classmethod
    def invalid_parameter(cls, detail: str) -> GraphError:
        return cls(f"(#100) {detail}", code=100)

    @classmethod
    def nonexisting_field(cls, *, field: str, node_type: str) -> GraphError:
        return cls(f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})", code=100)

    @classmethod
    def unknown_object(cls, *, object_id: str, method: str) -> GraphError:
        message = (
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        )
        return cls(message, code=100, error_type="GraphMethodException", subcode=33)

    @classmethod
    def unsupported_method(cls, method: str) -> GraphError:
        return cls(f"Unsupported request - method type: {method.lower()}", code=100, error_type="GraphMethodException")

    # --- code 10: permissions ----------------------------------------------
    @classmethod
    def permission_denied(cls) -> GraphError:
        return cls("(#10) Application does not have permission for this action", code=10)

    @classmethod
    def outside_window(cls) -> GraphError:
        # The Send API's documented refusal outside the 24-hour window (code 10, subcode 2018278).
        return cls("(#10) This message is sent outside of allowed window.", code=10, subcode=2018278)

    @classmethod
    def private_reply_used(cls) -> GraphError:
        # Not in Meta's pages; the code/subcode Instagram answers with in the wild (see instagram/errors.py).
        return cls("(#10) The comment has already been replied to privately.", code=10, subcode=2534025)

    # --- throttling -----------------------------------------------------------
    @classmethod
    def business_rate_limited(cls) -> GraphError:
        return cls(
            "(#80002) There have been too many calls to this Instagram account. Wait a bit and try again. "
            "For more info, please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
            code=80002,
        )


class OAuthExchangeError(SandboxApiError):
    """An error of ``POST api.instagram.com/oauth/access_token`` (flat shape, HTTP 400)."""

    CODE_NOT_FOUND = "Matching code was not found or was already used"
    REDIRECT_URI_MISMATCH = (
        "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in "
        "the OAuth dialog request"
    )
    INVALID_CLIENT_ID = "Invalid platform app"
    INVALID_CLIENT_SECRET = "Error validating client secret."  # noqa: S105 (an error message, not a secret)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_type": "OAuthException", "code": self.status, "error_message": self.message}
