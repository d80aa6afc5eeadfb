"""Storing what Meta's webhooks deliver, once, and handing it on."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import InstagramAccount
from instaforge.tasks import enqueue_on_commit
from instagram.models import InboundEvent, InboundEventState

logger = logging.getLogger(__name__)


class MalformedDelivery(ValueError):
    """The body is not a webhook delivery Meta would send."""


@dataclass(frozen=True)
class ParsedChange:
    dedupe_key: str
    object_type: str
    field: str
    entry_id: str
    entry_time: datetime | None
    payload: dict[str, Any]


def _entry_time(raw: Any) -> datetime | None:
    if not isinstance(raw, int | float):
        return None
    # Meta sends seconds; some fields send milliseconds.
    seconds = raw / 1000 if raw > 10**11 else raw
    return datetime.fromtimestamp(seconds, tz=UTC)


def _dedupe_key(field: str, entry_id: str, value: dict[str, Any]) -> str:
    """A key built from Meta's own ids, so a redelivered change maps to the same row."""
    if field in ("comments", "live_comments") and value.get("id"):
        return f"{field}:{value['id']}"
    if field == "messaging" and isinstance(value.get("message"), dict) and value["message"].get("mid"):
        return f"message:{value['message']['mid']}"
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return f"{field}:{entry_id}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def webhook_parse(*, body: bytes) -> list[ParsedChange]:
    """Split a delivery into its changes. Raises ``MalformedDelivery``.

    Unknown fields are kept (stored and counted, not processed).
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery("The body is not JSON.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise MalformedDelivery("The body has no entry list.")
    object_type = str(document.get("object", ""))
    changes: list[ParsedChange] = []
    for entry in document["entry"]:
        if not isinstance(entry, dict):
            raise MalformedDelivery("An entry is not an object.")
        entry_id = str(entry.get("id", ""))
        entry_time = _entry_time(entry.get("time"))
        raw_changes = entry.get("changes")
        if raw_changes is None and "field" in entry:
            # The Instagram Login reference shows field/value directly on the entry.
            raw_changes = [{"field": entry["field"], "value": entry.get("value")}]
        for change in raw_changes or []:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise MalformedDelivery("A change has no value object.")
            field = str(change.get("field", ""))
            changes.append(
                ParsedChange(
                    _dedupe_key(field, entry_id, change["value"]), object_type, field, entry_id, entry_time, change
                )
            )
        for item in entry.get("messaging", []) or []:
            if not isinstance(item, dict):
                raise MalformedDelivery("A messaging item is not an object.")
            changes.append(
                ParsedChange(
                    _dedupe_key("messaging", entry_id, item), object_type, "messaging", entry_id, entry_time, item
                )
            )
    return changes


def webhook_store(*, changes: list[ParsedChange]) -> list[InboundEvent]:
    """Store each change once and enqueue the new ones for processing after commit.

    A redelivered change only bumps its ``deliveries`` counter. Returns the new events.
    """
    accounts = {
        account.ig_user_id: account
        for account in InstagramAccount.all_workspaces.filter(
            ig_user_id__in={c.entry_id for c in changes if c.entry_id}
        )
    }
    created: list[InboundEvent] = []
    with transaction.atomic():
        for change in changes:
            account = accounts.get(change.entry_id)
            try:
                with transaction.atomic():
                    event = InboundEvent.objects.create(
                        dedupe_key=change.dedupe_key,
                        object_type=change.object_type,
                        field=change.field,
                        entry_id=change.entry_id,
                        entry_time=change.entry_time,
                        payload=change.payload,
                        workspace_id=account.workspace_id if account else None,
                        account=account,
                    )
            except IntegrityError:
                InboundEvent.objects.filter(dedupe_key=change.dedupe_key).update(deliveries=F("deliveries") + 1)
                continue
            created.append(event)
            enqueue_on_commit("instagram.tasks.inbound_event_process", event.pk)
    return created


def inbound_event_claim(*, event_id: int) -> InboundEvent | None:
    """Take a pending event for processing; None if someone else has it or it is done."""
    claimed = InboundEvent.objects.filter(pk=event_id, state=InboundEventState.PENDING).update(
        state=InboundEventState.PROCESSING, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return InboundEvent.objects.select_related("account").get(pk=event_id)


def inbound_event_finish(*, event: InboundEvent, state: str, outcome: str) -> None:
    InboundEvent.objects.filter(pk=event.pk).update(state=state, outcome=outcome[:500], processed_at=timezone.now())


def inbound_event_sweep(*, older_than_seconds: int) -> int:
    """Re-enqueue events still pending (a lost broker message) or stuck processing (a dead worker)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = InboundEvent.objects.filter(state=InboundEventState.PROCESSING, received_at__lt=cutoff, attempts__lt=5)
    stuck.update(state=InboundEventState.PENDING)
    pending = list(
        InboundEvent.objects.filter(state=InboundEventState.PENDING, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for event_id in pending:
        enqueue_on_commit("instagram.tasks.inbound_event_process", event_id)
    if pending:
        logger.info("Sweeper re-enqueued %d inbound events", len(pending))
    return len(pending)
