import io
import logging

import pytest

from instaforge.logfilters import SecretsRedactingFilter, secrets_redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET /v21.0/me?fields=id&access_token=IGQVJ123 HTTP/1.1",
            "GET /v21.0/me?fields=id&access_token=[redacted] HTTP/1.1",
        ),
        ("GET /oauth/callback?code=AQB9x&state=s1 HTTP/1.1", "GET /oauth/callback?code=[redacted]&state=s1 HTTP/1.1"),
        (
            "POST /oauth/access_token?client_secret=shh HTTP/1.1",
            "POST /oauth/access_token?client_secret=[redacted] HTTP/1.1",
        ),
        (
            "GET /webhooks/?hub.verify_token=tok&hub.challenge=9",
            "GET /webhooks/?hub.verify_token=[redacted]&hub.challenge=9",
        ),
        ("GET /me?fields=id,username HTTP/1.1", "GET /me?fields=id,username HTTP/1.1"),
        ("GET /x?zipcode=123", "GET /x?zipcode=123"),  # only whole parameter names
    ],
)
def test_secret_parameters_are_redacted(line: str, expected: str) -> None:
    assert secrets_redact(line) == expected


def test_the_server_request_log_shows_no_token() -> None:
    """The request lines of runserver and the sandbox go through the filter (settings.LOGGING)."""
    logger = logging.getLogger("django.server")
    handler = logger.handlers[0]
    assert any(isinstance(f, SecretsRedactingFilter) for f in handler.filters)
    stream = io.StringIO()
    original = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        logger.info('"%s" %s %s', "GET /v21.0/me?access_token=IGQVJsecret HTTP/1.1", "200", "31")
    finally:
        handler.setStream(original)  # type: ignore[attr-defined]
    assert "IGQVJsecret" not in stream.getvalue()
    assert "access_token=[redacted]" in stream.getvalue()
