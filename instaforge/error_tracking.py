"""Optional error tracking: Sentry when ``SENTRY_DSN`` is set (Django's ``ADMINS`` mail otherwise).

Nothing personal and no secret leaves. sentry-sdk's default keeps personal data off (``send_default_pii``
false: no cookies, no user, no client address, and Sentry's own denylist scrubber on); sentry-sdk 2.76
deprecates passing that option, so it is left at its default and a test holds the client to it. And every
event and breadcrumb passes the same redaction as the logs (``instaforge.redaction.value_redact``: each
text — the message, the exceptions' values, the frames' variables, the request's URL, query string,
headers and body — and the value of every secret key). Each event carries the correlation id bound where
it was captured (a tag, with the workspace, account and action ids), so a Sentry issue leads to the log
lines of the same piece of work.
"""

from __future__ import annotations

from typing import Any

import sentry_sdk

from instaforge.correlation import log_context
from instaforge.redaction import value_redact


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """The event with every secret redacted, tagged with the correlation id and the ids bound when it was captured."""
    context = log_context()
    if context.fields:
        tags = event.setdefault("tags", {})
        if isinstance(tags, dict):
            for name, value in context.fields:
                tags.setdefault(name, str(value))
    redacted = value_redact(event)
    assert isinstance(redacted, dict)
    return redacted


def sentry_before_breadcrumb(breadcrumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """A breadcrumb (a log line, an HTTP call, a query) with every secret redacted."""
    redacted = value_redact(breadcrumb)
    assert isinstance(redacted, dict)
    return redacted


def sentry_options(*, dsn: str, environment: str) -> dict[str, Any]:
    """The options ``sentry_sdk.init`` gets: errors only (no tracing), no personal data, everything redacted."""
    return {
        "dsn": dsn,
        "environment": environment,
        "before_send": sentry_before_send,
        "before_breadcrumb": sentry_before_breadcrumb,
        "traces_sample_rate": 0.0,
        "max_request_body_size": "small",
    }


def error_tracking_init(*, dsn: str, environment: str) -> None:
    """Turn Sentry on (settings call it when ``SENTRY_DSN`` is set)."""
    sentry_sdk.init(**sentry_options(dsn=dsn, environment=environment))
