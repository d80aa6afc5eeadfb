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


# A batch handler takes the events of one field (routed to a connected account, several accounts possibly) and
# returns the result of each event it handled; those it leaves out are handled one by one by the field's handler.
BatchHandler = Callable[[list[InboundEvent]], dict[int, HandlerResult]]

_batch_handlers: dict[str, BatchHandler] = {}


def register_batch_handler(field: str, handler: BatchHandler) -> None:
    """Handle many events of ``field`` at once (docs/performance.md, the batched inbound path)."""
    _batch_handlers[field] = handler


def batch_handler_for(field: str) -> BatchHandler | None:
    return _batch_handlers.get(field)
