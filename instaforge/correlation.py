"""A correlation id that follows one piece of work through every process, and the ids it is about.

One webhook delivery gets an id (its request's, ``X-Request-ID`` when the caller sends a sane one); the
inbound events stored from it keep it (``InboundEvent.correlation_id``), the inbound task binds it again
with the event's workspace and account, the actions planned meanwhile keep it (``Action.correlation_id``),
and the dispatcher's sender binds it with the action's ids while it calls Instagram and records the
outcome. Every log line written meanwhile carries them (``LogContextFilter``): follow one id from the
webhook to the outcome with ``grep``/``jq`` (docs/operations.md, "Logs").

Cheap on the hot paths: binding builds one small immutable object, and a log record costs one
``ContextVar`` read; nothing here touches the database. A ``ContextVar`` is per thread (and per asyncio
task): a new thread starts with nothing bound.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.http import HttpRequest, HttpResponse

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming X-Request-ID is kept only when it looks like an id (a proxy's or a load balancer's): bounded,
# letters, digits and dashes. Anything else (too long, spaces, quotes, control characters) gets a fresh id.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
# The fields a log record gets from what is bound, in this order.
CONTEXT_FIELDS = ("correlation_id", "workspace_id", "account_id", "action_id")


@dataclass(frozen=True)
class LogContext:
    """What is bound now. ``fields`` and ``label`` are computed once, when bound, not per log record."""

    correlation_id: str = ""
    workspace_id: int | None = None
    account_id: int | None = None
    action_id: int | None = None
    fields: tuple[tuple[str, str | int], ...] = field(default=(), compare=False)
    label: str = field(default="", compare=False)

    @classmethod
    def of(
        cls, *, correlation_id: str, workspace_id: int | None, account_id: int | None, action_id: int | None
    ) -> LogContext:
        values = (correlation_id, workspace_id, account_id, action_id)
        fields = tuple(
            (name, value) for name, value in zip(CONTEXT_FIELDS, values, strict=True) if value not in (None, "")
        )
        # The text format's " [<id> workspace=1 account=2 action=3]", empty when nothing is bound.
        parts = [correlation_id] if correlation_id else []
        parts += [f"{name.removesuffix('_id')}={value}" for name, value in fields if name != "correlation_id"]
        label = f" [{' '.join(parts)}]" if parts else ""
        return cls(correlation_id, workspace_id, account_id, action_id, fields, label)


_EMPTY = LogContext()
_current: ContextVar[LogContext] = ContextVar("instaforge_log_context", default=_EMPTY)


def correlation_id() -> str:
    """The correlation id bound now, or ``""``."""
    return _current.get().correlation_id


def log_context() -> LogContext:
    """Everything bound now (the correlation id and the workspace, account and action it is about)."""
    return _current.get()


def correlation_new() -> str:
    """A fresh correlation id: 32 hexadecimal characters."""
    return uuid.uuid4().hex


def request_id_accept(value: str | None) -> str | None:
    """An incoming ``X-Request-ID`` if it is sane (8 to 64 letters, digits or dashes), else None."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return None


@contextmanager
def correlation_bind(
    *,
    correlation_id: str = "",
    workspace_id: int | None = None,
    account_id: int | None = None,
    action_id: int | None = None,
    fresh: bool = False,
) -> Iterator[LogContext]:
    """Bind a correlation id and the ids the work is about, for the ``with`` block (then the previous ones again).

    What is not given is inherited from what is bound already (unless ``fresh``); a correlation id that is
    neither given nor bound is made new, so every bound piece of work has one.
    """
    outer = _EMPTY if fresh else _current.get()
    context = LogContext.of(
        correlation_id=correlation_id or outer.correlation_id or correlation_new(),
        workspace_id=workspace_id if workspace_id is not None else outer.workspace_id,
        account_id=account_id if account_id is not None else outer.account_id,
        action_id=action_id if action_id is not None else outer.action_id,
    )
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


class LogContextFilter(logging.Filter):
    """Adds what is bound to every record: ``correlation_id``, ``workspace_id``, ``account_id``, ``action_id``.

    Only those bound (a JSON line carries no empty ids); a value the caller passed in ``extra`` wins.
    ``log_context`` is the same as a short text, for the text format.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if not context.fields:
            # Django logs a request's 4xx/5xx (``django.request``) after the middleware has returned, with the
            # request on the record: its id is the one the middleware gave it.
            request = record.__dict__.get("request")
            request_context = getattr(request, "log_context", None)
            if isinstance(request_context, LogContext):
                context = request_context
        record.log_context = context.label
        for name, value in context.fields:
            if name not in record.__dict__:
                setattr(record, name, value)
        return True


class CorrelationIdMiddleware:
    """One correlation id per request (the caller's sane ``X-Request-ID``, else a new one), sent back in the answer.

    A webhook delivery is one request: its id is the one its inbound events keep.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request_id_accept(request.headers.get(REQUEST_ID_HEADER))
        with correlation_bind(correlation_id=incoming or correlation_new(), fresh=True) as context:
            request.log_context = context  # type: ignore[attr-defined]
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = context.correlation_id
        return response
