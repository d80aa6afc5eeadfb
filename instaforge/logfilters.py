"""Logging filters: secrets never reach a log line."""

from __future__ import annotations

import logging
import re

# Query-string parameters that carry a credential in Instagram Login and Graph API calls.
SECRET_PARAMETERS = ("access_token", "client_secret", "code", "fb_exchange_token", "input_token", "hub.verify_token")
_SECRET_PATTERN = re.compile(
    r"((?:^|[?&\s])(?:" + "|".join(re.escape(name) for name in SECRET_PARAMETERS) + r")=)[^&\s\"]+"
)


def secrets_redact(text: str) -> str:
    """``text`` with the value of every secret query parameter replaced by ``[redacted]``."""
    return _SECRET_PATTERN.sub(r"\1[redacted]", text)


class SecretsRedactingFilter(logging.Filter):
    """Rewrites a record's message so request lines (``GET /me?access_token=…``) show no credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = secrets_redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
