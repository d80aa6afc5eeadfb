"""Meta's ``signed_request`` (deauthorize and data deletion callbacks): parsed only when signed with the app secret.

The documented example payload is privacy/tests/fixtures/data_deletion_signed_request_payload.json (its
source in that folder's README.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from instagram.signatures import (
    SignedRequestBadSignature,
    SignedRequestInvalid,
    SignedRequestMalformed,
    signed_request_build,
    signed_request_parse,
)

SECRET = "test-app-secret"
DOCUMENTED = json.loads(
    (
        Path(__file__).resolve().parents[2] / "privacy/tests/fixtures/data_deletion_signed_request_payload.json"
    ).read_text()
)


def b64url(raw: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw).decode("ascii")
    return text if padded else text.rstrip("=")


def signed_by_hand(payload_json: bytes, secret: str = SECRET, *, padded: bool = False) -> str:
    """Built as Meta's PHP example reads it: the HMAC-SHA256 of the encoded payload, both parts base64url."""
    encoded = b64url(payload_json, padded=padded)
    signature = hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()
    return f"{b64url(signature, padded=padded)}.{encoded}"


def test_the_documented_example_signed_with_the_app_secret_is_accepted() -> None:
    parsed = signed_request_parse(signed_request=signed_by_hand(json.dumps(DOCUMENTED).encode()), app_secret=SECRET)

    assert parsed == DOCUMENTED
    assert parsed["user_id"] == "218471"


def test_build_and_parse_agree_with_a_hand_made_request() -> None:
    built = signed_request_build(payload=DOCUMENTED, app_secret=SECRET)

    assert signed_request_parse(signed_request=built, app_secret=SECRET) == DOCUMENTED
    assert "=" not in built  # base64url without padding, as Meta sends it
    assert built == signed_by_hand(json.dumps(DOCUMENTED, separators=(",", ":")).encode())


def test_padding_is_optional() -> None:
    padded = signed_by_hand(json.dumps({"algorithm": "HMAC-SHA256", "user_id": "1"}).encode(), padded=True)
    assert padded.count("=") >= 1

    assert signed_request_parse(signed_request=padded, app_secret=SECRET)["user_id"] == "1"


def test_a_numeric_user_id_is_returned_as_a_string_and_the_algorithm_compared_without_case() -> None:
    request = signed_request_build(
        payload={"algorithm": "hmac-sha256", "user_id": 17841400000000001}, app_secret=SECRET
    )

    assert signed_request_parse(signed_request=request, app_secret=SECRET)["user_id"] == "17841400000000001"


def test_another_secret_is_a_bad_signature_and_the_message_never_holds_a_secret() -> None:
    request = signed_request_build(payload=DOCUMENTED, app_secret="someone-elses-secret")

    with pytest.raises(SignedRequestBadSignature) as refused:
        signed_request_parse(signed_request=request, app_secret=SECRET)

    assert SECRET not in str(refused.value) and "someone-elses-secret" not in str(refused.value)
    assert request not in str(refused.value)


def test_a_tampered_payload_is_a_bad_signature() -> None:
    signature, _ = signed_request_build(payload=DOCUMENTED, app_secret=SECRET).split(".")
    forged = b64url(json.dumps({**DOCUMENTED, "user_id": "1"}).encode())

    with pytest.raises(SignedRequestBadSignature):
        signed_request_parse(signed_request=f"{signature}.{forged}", app_secret=SECRET)


def test_no_app_secret_accepts_nothing() -> None:
    with pytest.raises(SignedRequestBadSignature):
        signed_request_parse(signed_request=signed_request_build(payload=DOCUMENTED, app_secret=""), app_secret="")


@pytest.mark.parametrize(
    "payload",
    [
        {**DOCUMENTED, "algorithm": "HMAC-SHA1"},
        {key: value for key, value in DOCUMENTED.items() if key != "algorithm"},
        {key: value for key, value in DOCUMENTED.items() if key != "user_id"},
        {**DOCUMENTED, "user_id": ""},
        {**DOCUMENTED, "user_id": True},
        {**DOCUMENTED, "user_id": None},
        {**DOCUMENTED, "user_id": ["218471"]},
        {**DOCUMENTED, "user_id": "218471 OR 1=1"},
        {**DOCUMENTED, "user_id": "9" * 65},
    ],
    ids=["sha1", "no-algorithm", "no-user-id", "empty-user-id", "bool", "null", "list", "spaces", "too-long"],
)
def test_a_signed_payload_without_the_documented_fields_is_malformed(payload: dict[str, Any]) -> None:
    with pytest.raises(SignedRequestMalformed):
        signed_request_parse(signed_request=signed_request_build(payload=payload, app_secret=SECRET), app_secret=SECRET)


@pytest.mark.parametrize(
    "raw_payload",
    [b"[1, 2]", b'"218471"', b"not json", b"\xff\xfe", b"[" * 5000 + b"]" * 5000],
    ids=["array", "string", "text", "not-utf8", "deep"],
)
def test_a_signed_payload_that_is_no_json_object_is_malformed(raw_payload: bytes) -> None:
    with pytest.raises(SignedRequestMalformed):
        signed_request_parse(signed_request=signed_by_hand(raw_payload), app_secret=SECRET)


@pytest.mark.parametrize(
    "signed_request",
    ["", ".", "abc", "abc.", ".abc", "a b.c", "ab*c.def", "é.é", "abc.def", "A" * 9000 + ".e30"],
    ids=["empty", "dot", "no-dot", "no-payload", "no-signature", "space", "star", "non-ascii", "short-sig", "huge"],
)
def test_what_is_not_a_signed_request_is_malformed(signed_request: str) -> None:
    with pytest.raises(SignedRequestMalformed):
        signed_request_parse(signed_request=signed_request, app_secret=SECRET)


@hypothesis_settings(max_examples=500, deadline=None)
@given(garbage=st.one_of(st.text(), st.text(alphabet="ABCabc019-_=.", max_size=200), st.binary().map(b64url)))
def test_garbage_raises_only_signed_request_invalid(garbage: str) -> None:
    """Unsigned garbage is refused, always with the module's own exception (anything else fails the test)."""
    with pytest.raises(SignedRequestInvalid):
        signed_request_parse(signed_request=garbage, app_secret=SECRET)


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    raw_payload=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda children: (
                st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {"algorithm": st.sampled_from(["HMAC-SHA256", "hmac-sha256", "HS256", ""]), "user_id": st.text(max_size=70)}
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_a_genuinely_signed_garbage_payload_raises_only_signed_request_invalid(raw_payload: bytes) -> None:
    """Signed with the right secret, so the payload is decoded: still nothing but the module's own exception."""
    try:
        parsed = signed_request_parse(signed_request=signed_by_hand(raw_payload), app_secret=SECRET)
    except SignedRequestInvalid:
        return
    assert isinstance(parsed, dict) and isinstance(parsed["user_id"], str) and parsed["user_id"]


def test_non_strings_are_malformed() -> None:
    for value in (None, 12, b"abc.def"):
        with pytest.raises(SignedRequestMalformed):
            signed_request_parse(signed_request=value, app_secret=SECRET)  # type: ignore[arg-type]
