"""Error tracking: Sentry's events and breadcrumbs leave redacted, with the correlation id; else a mail to ADMINS.

No network: the hooks are called directly, and one event goes through sentry-sdk itself into a transport
that keeps the envelope in memory.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from django.core import mail
from django.test import RequestFactory
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from instaforge.correlation import correlation_bind
from instaforge.error_tracking import sentry_before_breadcrumb, sentry_before_send, sentry_options
from instaforge.logfilters import RedactingAdminEmailHandler
from instaforge.tests.test_production_settings import production_env, run

TOKEN = "IGAAsentrytest0123456789abcdefghij"
PLAIN_SECRET = "plain-client-secret-58c1"


def test_the_options_send_no_personal_data_and_pass_every_event_through_the_redaction() -> None:
    options = sentry_options(dsn="https://key@sentry.example/1", environment="staging")
    assert not options.get("send_default_pii")  # sentry-sdk's default (off); passing it is deprecated
    assert options["before_send"] is sentry_before_send
    assert options["before_breadcrumb"] is sentry_before_breadcrumb
    assert options["traces_sample_rate"] == 0.0
    assert options["environment"] == "staging"


def test_before_send_redacts_the_message_the_exceptions_the_breadcrumbs_and_the_request() -> None:
    event: dict[str, Any] = {
        "message": f"Graph call failed: access_token={TOKEN}",
        "logentry": {"message": "Calling %s", "params": [f"https://graph.instagram.com/me?access_token={TOKEN}"]},
        "exception": {
            "values": [
                {
                    "type": "GraphAPIError",
                    "value": f"HTTP 400 for /me?access_token={TOKEN}",
                    "stacktrace": {"frames": [{"vars": {"token": f"'{TOKEN}'", "client_secret": PLAIN_SECRET}}]},
                }
            ]
        },
        "breadcrumbs": {"values": [{"category": "httplib", "data": {"url": f"/me?access_token={TOKEN}"}}]},
        "request": {
            "url": "https://app.example/instagram/callback/",
            "query_string": f"code=AQBcode123&state=s&access_token={TOKEN}",
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "data": {"password": "hunter2-hunter2", "client_secret": PLAIN_SECRET},
        },
    }
    scrubbed = sentry_before_send(event, {})
    text = repr(scrubbed)
    assert TOKEN not in text and PLAIN_SECRET not in text and "hunter2" not in text and "AQBcode123" not in text
    assert scrubbed["exception"]["values"][0]["value"] == "HTTP 400 for /me?access_token=[redacted]"
    assert scrubbed["request"]["headers"]["Authorization"] == "Bearer [redacted]"
    assert scrubbed["request"]["data"] == {"password": "[redacted]", "client_secret": "[redacted]"}
    assert scrubbed["exception"]["values"][0]["type"] == "GraphAPIError"  # what is no secret stays


def test_before_send_tags_the_event_with_what_is_bound() -> None:
    with correlation_bind(correlation_id="delivery-0123456789", workspace_id=4, account_id=9, action_id=77):
        scrubbed = sentry_before_send({"message": "boom"}, {})
    assert scrubbed["tags"] == {
        "correlation_id": "delivery-0123456789",
        "workspace_id": "4",
        "account_id": "9",
        "action_id": "77",
    }


def test_before_breadcrumb_redacts() -> None:
    crumb = sentry_before_breadcrumb(
        {"category": "log", "message": f"GET /me?access_token={TOKEN}", "data": {"access_token": TOKEN}}, {}
    )
    assert crumb == {
        "category": "log",
        "message": "GET /me?access_token=[redacted]",
        "data": {"access_token": "[redacted]"},
    }


class _KeptEnvelopes(Transport):
    """A transport that sends nothing: it keeps each envelope."""

    envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


@pytest.fixture
def sentry_in_memory() -> Iterator[list[Envelope]]:
    _KeptEnvelopes.envelopes = []
    sentry_sdk.init(
        **sentry_options(dsn="https://key@sentry.example/1", environment="test"),
        transport=_KeptEnvelopes,
        default_integrations=False,  # nothing patched in this test process (Django, logging, threading…)
        auto_enabling_integrations=False,
    )
    try:
        yield _KeptEnvelopes.envelopes
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_an_exception_captured_by_sentry_leaves_without_a_secret(sentry_in_memory: list[Envelope]) -> None:
    access_token = TOKEN  # a local variable: Sentry sends the frames' variables
    with correlation_bind(correlation_id="delivery-abcdef0123", account_id=3):
        try:
            raise RuntimeError(f"Graph call to /me?access_token={access_token} failed")
        except RuntimeError as exc:
            sentry_sdk.capture_exception(exc)
    sentry_sdk.flush()
    assert sentry_sdk.get_client().should_send_default_pii() is False
    (envelope,) = sentry_in_memory
    event = envelope.get_event()
    assert event is not None
    text = repr(event)
    assert TOKEN not in text
    assert event["exception"]["values"][0]["value"] == "Graph call to /me?access_token=[redacted] failed"
    assert event["tags"]["correlation_id"] == "delivery-abcdef0123"
    assert event["tags"]["account_id"] == "3"


def test_the_error_mail_to_admins_is_redacted(settings: Any, rf: RequestFactory) -> None:
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.DEBUG = False
    handler = RedactingAdminEmailHandler()
    request = rf.get(f"/instagram/callback/?code=AQBsecretcode&access_token={TOKEN}")
    try:
        raise ValueError(f"Token {TOKEN} refused")
    except ValueError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/x",), sys.exc_info()
        )
    record.request = request
    handler.emit(record)
    (message,) = mail.outbox
    assert TOKEN not in f"{message.subject}{message.body}"
    assert "AQBsecretcode" not in str(message.body)
    assert "[redacted]" in str(message.body)


PROCESS_REPORT = (
    "import django, logging; django.setup(); import sentry_sdk; from django.conf import settings; "
    "client = sentry_sdk.get_client(); "
    "mail = [type(h).__name__ for h in logging.getLogger('django').handlers]; "
    "print(client.is_active(), getattr(client.options.get('before_send'), '__name__', None), "
    "client.options.get('environment'), mail, settings.ADMINS, sep='|')"
)


def test_sentry_dsn_turns_sentry_on_in_a_process_and_the_mail_off(tmp_path: Path) -> None:
    environment = {
        **production_env(tmp_path),
        "SENTRY_DSN": "https://key@sentry.example/1",
        "SENTRY_ENVIRONMENT": "staging",
    }
    result = run(["-c", PROCESS_REPORT], environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True|sentry_before_send|staging|[]|[]"


def test_without_sentry_server_errors_are_mailed_to_the_admins_of_the_environment(tmp_path: Path) -> None:
    environment = {**production_env(tmp_path), "ADMINS": "Ops Team <ops@example.com>,oncall@example.com"}
    result = run(["-c", PROCESS_REPORT], environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "False|None|None|['RedactingAdminEmailHandler']|[('Ops Team', 'ops@example.com'), ('', 'oncall@example.com')]"
    )
