"""Logging filters and the JSON format: secrets never reach a log line, in its message or in any of its fields."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime
from typing import Any

from django.utils.log import AdminEmailHandler
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from instaforge.redaction import REDACTED, SECRET_PARAMETERS, secrets_redact, value_redact

__all__ = [
    "SECRET_PARAMETERS",
    "JsonLogFormatter",
    "RedactingAdminEmailHandler",
    "SecretsRedactingFilter",
    "secrets_redact",
]

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


# Attributes a record may carry that are no field of a JSON line: the text format's context label, the
# development server's own time, a request object (its text would be its URL, query string included).
_NOT_FIELDS = ("log_context", "server_time", "request", "color_message")


def _plain(value: Any) -> Any:
    """``value`` as JSON has it (text, numbers, lists, objects): anything else as its text, to be redacted as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, ``process``, what is bound
    (``correlation_id``, ``workspace_id``, ``account_id``, ``action_id``: ``instaforge.correlation``), the
    record's ``extra`` fields and ``exc_info``.

    Every value is redacted (``instaforge.redaction.value_redact``: each text, and the value of every secret
    key), after ``SecretsRedactingFilter`` already redacted the message and the traceback: a field given in
    ``extra`` or a traceback formatted again here cannot carry a credential out either.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, *_NOT_FIELDS])
        kwargs.setdefault("json_ensure_ascii", False)
        if not args and "fmt" not in kwargs:
            args = ("%(levelname)s %(name)s %(message)s %(process)d",)
        super().__init__(*args, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        redacted = value_redact(_plain(log_data))
        assert isinstance(redacted, dict)
        return {"time": redacted.pop("time", None), **redacted}  # the time first, as a reader scans lines


class RedactingAdminEmailHandler(AdminEmailHandler):
    """Django's error mail to ``ADMINS`` (when Sentry is off), redacted as the logs are.

    The report quotes the exception's text, the request's query string and headers: each could hold a token.
    """

    def send_mail(self, subject: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("html_message"):
            kwargs["html_message"] = _report_redact(str(kwargs["html_message"]))
        super().send_mail(secrets_redact(str(subject)), _report_redact(str(message)), *args, **kwargs)


# The report lists the request's parameters as ``name = 'value'`` lines (``code = 'AQB…'``): a credential
# parameter's value goes, whatever its shape (``secrets_redact`` keeps a bare ``code`` key: Graph errors' codes).
_REPORT_PARAMETER = re.compile(
    r"^(\s*(?:" + "|".join(re.escape(name) for name in SECRET_PARAMETERS) + r")\s*=\s*).+$",
    re.IGNORECASE | re.MULTILINE,
)


def _report_redact(text: str) -> str:
    return secrets_redact(_REPORT_PARAMETER.sub(r"\1'" + REDACTED + "'", text))
