"""One redaction for every text that is logged, stored or shown (issue 18, finding 1)."""

from __future__ import annotations

import io
import logging

import pytest

from instaforge.logfilters import SecretsRedactingFilter
from instaforge.redaction import secrets_redact, url_redact, value_redact

SECRET = "s3cr3t-VALUE-0123456789"


@pytest.mark.parametrize(
    "text",
    [
        f"Max retries exceeded with url: /v26.0/me?fields=id&access_token={SECRET} (Caused by ...)",
        f"POST body: client_id=1&client_secret={SECRET}&grant_type=authorization_code&code={SECRET}",
        f"GET /debug_token?input_token={SECRET}&appsecret_proof={SECRET}",
        f"GET /oauth/access_token?grant_type=fb_exchange_token&fb_exchange_token={SECRET}",
        f"signed_request={SECRET}.payload",
        f"GET /webhooks/instagram/?hub.mode=subscribe&hub.verify_token={SECRET}&hub.challenge=1",
        f"redirect=https%3A%2F%2Fx.example%2Fcb%3Faccess_token%3D{SECRET}%26state%3D1",
        f"{{'access_token': '{SECRET}', 'expires_in': 5183944}}",
        f'{{"client_secret": "{SECRET}"}}',
        f"headers: Authorization: Bearer {SECRET}",
        f"Authorization: OAuth {SECRET}",
        "Invalid OAuth access token IGAAQ1h0ZWxZAbWFrZXJfc2VjcmV0X3Rva2VuX3ZhbHVl (#190)",
        "token EAAGm0PX4ZCpsBAKZCZBzZAa0123456789abcdef was rejected",
    ],
)
def test_every_shape_of_a_credential_is_redacted(text: str) -> None:
    redacted = secrets_redact(text)
    assert SECRET not in redacted
    assert "IGAAQ1h0" not in redacted and "EAAGm0PX" not in redacted
    assert "[redacted]" in redacted


# The media store's (S3) credentials: AWS's documented example keys, a presigned URL as botocore builds it.
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SIGNATURE = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"


@pytest.mark.parametrize(
    "text",
    [
        "GET https://media.s3.amazonaws.com/publishing/1/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={AWS_KEY_ID}%2F20261207%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261207T000000Z"
        f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token={SECRET}&X-Amz-Signature={SIGNATURE}",
        f"image_url=https%3A%2F%2Fmedia.example%2Fa.jpg%3FX-Amz-Signature%3D{SIGNATURE}%26X-Amz-Expires%3D3600",
        f"Authorization: AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/20261207/us-east-1/s3/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}",
        f"https://media.example/a.jpg?AWSAccessKeyId={AWS_KEY_ID}&Expires=1765000000&Signature={SECRET}%2B",
        f"AWS_SECRET_ACCESS_KEY={AWS_SECRET_KEY}",
        f"{{'aws_access_key_id': '{AWS_KEY_ID}', 'aws_secret_access_key': '{AWS_SECRET_KEY}'}}",
        f'{{"aws_session_token": "{SECRET}"}}',
        f"The AWS Access Key Id you provided does not exist in our records: {AWS_KEY_ID}",
    ],
)
def test_the_media_stores_credentials_and_presigned_signatures_are_redacted(text: str) -> None:
    redacted = secrets_redact(text)
    for secret in (SECRET, AWS_KEY_ID, AWS_SECRET_KEY, SIGNATURE):
        assert secret not in redacted
    assert "[redacted]" in redacted


def test_a_presigned_url_keeps_what_an_operator_needs() -> None:
    url = (
        "https://media.s3.amazonaws.com/publishing/1/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date=20261207T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}"
    )
    assert secrets_redact(url) == url.replace(SIGNATURE, "[redacted]")


@pytest.mark.parametrize(
    "text",
    [
        "rate limited (code 4): Application request limit reached",
        '{"code": 190, "error_subcode": 463, "message": "Session has expired"}',
        "GET /x?zipcode=123&status_code=200",
        "the 24-hour window closed before the automated message could be sent",
        "webhook refused: bad X-Hub-Signature-256 signature",
        "media store: PUT publishing/1/a.jpg took 120 ms (X-Amz-Request-Id 4442587FB7D0A2F9)",
        "ASIAN food week #askia",
    ],
)
def test_texts_without_credentials_are_left_alone(text: str) -> None:
    assert secrets_redact(text) == text


def test_a_url_loses_its_query_and_its_user_but_keeps_where_it_went() -> None:
    assert (
        url_redact(f"https://user:{SECRET}@graph.instagram.com:443/v26.0/me?fields=id&access_token={SECRET}#x")
        == "https://graph.instagram.com:443/v26.0/me?[redacted]#[redacted]"
    )
    assert url_redact("http://127.0.0.1:8001/v26.0/me") == "http://127.0.0.1:8001/v26.0/me"
    assert SECRET not in url_redact(f"http://[::1/me?access_token={SECRET}")


def test_json_values_are_redacted_at_every_depth_and_by_key() -> None:
    value = {
        "error": {"message": f"url: /me?access_token={SECRET}", "code": 100},
        "access_token": SECRET,
        "items": [f"Bearer {SECRET}", 3, None],
    }
    redacted = value_redact(value)
    assert SECRET not in str(redacted)
    assert redacted["error"]["code"] == 100 and redacted["items"][1:] == [3, None]


def test_the_log_filter_redacts_arguments_tracebacks_and_chained_exceptions() -> None:
    logger = logging.getLogger("instaforge.tests.redaction")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretsRedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            try:
                raise ConnectionError(f"Max retries exceeded with url: /v26.0/me?access_token={SECRET}")
            except ConnectionError as inner:
                raise RuntimeError("the call failed") from inner
        except RuntimeError:
            logger.exception("Calling %s failed", f"/me?access_token={SECRET}")
        logger.warning("stack", stack_info=True, extra={"note": SECRET})
        logger.info("Authorization: %s", f"Bearer {SECRET}")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    written = stream.getvalue()
    assert "the direct cause of the following exception" in written  # the traceback is there, whole
    assert SECRET not in written
