"""Logging filters: secrets never reach a log line."""

from __future__ import annotations

import logging

from instaforge.redaction import SECRET_PARAMETERS, secrets_redact

__all__ = ["SECRET_PARAMETERS", "SecretsRedactingFilter", "secrets_redact"]

_formatter = logging.Formatter()


class SecretsRedactingFilter(logging.Filter):
    """Rewrites a record so no credential shows: its message and arguments, its traceback and its stack.

    A request line (``GET /me?access_token=…``), an exception whose text holds a URL, a traceback whose
    chained exceptions do: the traceback is formatted here, redacted, and kept as the record's
    ``exc_text``, which every ``logging.Formatter`` prints as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = secrets_redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = secrets_redact(record.exc_text or _formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = secrets_redact(record.exc_text)
        if record.stack_info:
            record.stack_info = secrets_redact(record.stack_info)
        return True
