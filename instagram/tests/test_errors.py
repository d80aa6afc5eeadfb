"""Every documented Meta error code maps to its typed exception (instagram/errors.py has the table)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from instagram.errors import (
    GraphAPIError,
    InvalidParameterError,
    OutsideMessagingWindowError,
    PermissionDeniedError,
    PolicyBlockedError,
    PrivateReplyUsedError,
    PublishingError,
    PublishingLimitError,
    RateLimitedError,
    TokenInvalidError,
    TransientError,
    error_from_response,
    retry_after_seconds,
)

FIXTURES = Path(__file__).parent / "fixtures" / "meta"


def graph_error(code: int, subcode: int | None = None, **extra: object) -> dict[str, object]:
    error: dict[str, object] = {"message": f"(#{code}) test", "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    error["fbtrace_id"] = "AbCdEfGhIjK"
    return {"error": error}


@pytest.mark.parametrize(
    ("status", "code", "subcode", "expected"),
    [
        # Throttling: platform codes and business-use-case codes.
        (400, 4, None, RateLimitedError),
        (400, 17, None, RateLimitedError),
        (400, 17, 2446079, RateLimitedError),
        (400, 32, None, RateLimitedError),
        (400, 341, None, RateLimitedError),
        (400, 613, None, RateLimitedError),
        (400, 613, 1996, RateLimitedError),
        (400, 80001, None, RateLimitedError),
        (400, 80002, None, RateLimitedError),
        (400, 80006, None, RateLimitedError),
        # The token, with every documented subcode.
        (400, 190, None, TokenInvalidError),
        (400, 190, 458, TokenInvalidError),
        (400, 190, 459, TokenInvalidError),
        (400, 190, 460, TokenInvalidError),
        (400, 190, 463, TokenInvalidError),
        (400, 190, 464, TokenInvalidError),
        (400, 190, 467, TokenInvalidError),
        (400, 102, None, TokenInvalidError),
        # Permissions.
        (400, 3, None, PermissionDeniedError),
        (403, 10, None, PermissionDeniedError),
        (400, 200, None, PermissionDeniedError),
        (400, 230, None, PermissionDeniedError),
        (400, 299, None, PermissionDeniedError),
        # Messaging.
        (400, 10, 2018278, OutsideMessagingWindowError),
        (400, 10, 2534022, OutsideMessagingWindowError),
        (400, 10, 2534025, PrivateReplyUsedError),
        # Policy, parameters.
        (400, 368, None, PolicyBlockedError),
        (400, 100, None, InvalidParameterError),
        (400, 100, 33, InvalidParameterError),
        # Publishing (2207xxx subcodes, whatever the code).
        (400, 9, 2207042, PublishingLimitError),
        (400, 4, 2207051, PublishingError),
        (400, 36000, 2207004, PublishingError),
        (400, 100, 2207023, PublishingError),
        (400, -1, 2207001, PublishingError),
        (400, 9007, 2207027, PublishingError),
        # Transient.
        (500, 1, None, TransientError),
        (503, 2, None, TransientError),
        (500, 12345, None, TransientError),
        # Anything else stays generic.
        (400, 506, None, GraphAPIError),
    ],
)
def test_code_maps_to_exception(status: int, code: int, subcode: int | None, expected: type[GraphAPIError]) -> None:
    error = error_from_response(status, graph_error(code, subcode))

    assert type(error) is expected
    assert (error.code, error.subcode, error.status, error.fbtrace_id) == (code, subcode, status, "AbCdEfGhIjK")


def test_publishing_limit_is_also_a_rate_limit() -> None:
    error = error_from_response(400, graph_error(9, 2207042))

    assert isinstance(error, RateLimitedError)
    assert isinstance(error, PublishingError)


def test_outside_window_is_a_permission_error() -> None:
    assert isinstance(error_from_response(400, graph_error(10, 2018278)), PermissionDeniedError)


def test_token_reason_names_the_subcode() -> None:
    assert error_from_response(400, graph_error(190, 458)).reason == "app_not_installed"  # type: ignore[attr-defined]
    assert error_from_response(400, graph_error(190, 463)).reason == "expired"  # type: ignore[attr-defined]
    assert error_from_response(400, graph_error(190)).reason == "invalid"  # type: ignore[attr-defined]


def test_is_transient_flag_makes_an_unknown_code_transient() -> None:
    assert type(error_from_response(400, graph_error(12345, is_transient=True))) is TransientError


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_without_body_is_transient(status: int) -> None:
    assert type(error_from_response(status, None)) is TransientError


def test_4xx_without_body_is_generic() -> None:
    assert type(error_from_response(404, "<html>")) is GraphAPIError


def test_flat_oauth_error_shape() -> None:
    body = json.loads((FIXTURES / "oauth_short_lived_token_error.json").read_text())

    error = error_from_response(400, body)

    assert isinstance(error, InvalidParameterError)
    assert error.message == "Matching code was not found or was already used"
    assert error.error_type == "OAuthException"
    assert error.status == 400


def test_documented_samples_map() -> None:
    publishing = json.loads((FIXTURES / "error_response.json").read_text())
    token = json.loads((FIXTURES / "error_response_graph_generic.json").read_text())
    rate = json.loads((FIXTURES / "error_response_rate_limit.json").read_text())

    assert type(error_from_response(400, publishing)) is PublishingError
    assert type(error_from_response(400, token)) is TokenInvalidError
    assert type(error_from_response(400, rate)) is RateLimitedError


def test_retry_after_comes_from_the_business_usage_header() -> None:
    usage = json.loads((FIXTURES / "usage_headers.json").read_text())
    parsed = {"business_use_case": usage["X-Business-Use-Case-Usage"]["parsed"]}

    error = error_from_response(400, graph_error(80002), usage=parsed)

    assert retry_after_seconds(parsed) == 19 * 60
    assert error.retry_after_seconds == 19 * 60
    assert error.as_dict()["retry_after_seconds"] == 19 * 60


def test_retry_after_unknown_without_header() -> None:
    assert error_from_response(400, graph_error(4)).retry_after_seconds is None
    assert retry_after_seconds({"app": {"call_count": 5}}) is None
