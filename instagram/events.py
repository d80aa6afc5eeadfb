"""Which app handles which webhook field. Apps register in ``AppConfig.ready``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from instagram.models import InboundEvent


@dataclass(frozen=True)
class HandlerResult:
    state: str  # an InboundEventState value
    outcome: str


Handler = Callable[[InboundEvent], HandlerResult]

_handlers: dict[str, Handler] = {}


def register_handler(field: str, handler: Handler) -> None:
    _handlers[field] = handler


def handler_for(field: str) -> Handler | None:
    return _handlers.get(field)
