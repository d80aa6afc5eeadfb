"""Missed-webhook backfill: read what Instagram has and feed what the webhooks missed through the same path.

Meta does not promise every notification arrives (and a delivery can be
dropped on our side before it is stored). A schedule therefore reads each
acting account's recent comments and conversations, turns them into the
documented webhook shapes and stores them with ``webhook_store``: the dedupe
keys are Meta's ids, so anything already received is skipped, and anything
new is processed exactly as if the webhook had come.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.lifecycle import ACTING_STATES
from accounts.models import InstagramAccount
from instagram.models import InboundEvent
from instagram.parsing import dedupe_key_for
from instagram.services import ParsedChange, StoreSummary, webhook_store
from safety.graph import graph_client

logger = logging.getLogger(__name__)

RECENT_MEDIA = 5
COMMENTS_PER_MEDIA = 50
CONVERSATIONS = 20
CONVERSATION_WINDOW = timedelta(hours=24)


def _when(raw: Any) -> datetime | None:
    return parse_datetime(raw) if isinstance(raw, str) else None


def _comment_change(account: InstagramAccount, media: dict[str, Any], comment: dict[str, Any]) -> ParsedChange:
    """A comment read from the API, in the ``comments`` webhook's documented value shape."""
    value: dict[str, Any] = {
        "from": comment.get("from") or {},
        "media": {"id": str(media.get("id", "")), "media_product_type": media.get("media_product_type", "")},
        "id": str(comment["id"]),
        "text": comment.get("text", ""),
    }
    if comment.get("parent_id"):
        value["parent_id"] = str(comment["parent_id"])
    change = {"field": "comments", "value": value}
    key = dedupe_key_for(field="comments", entry_id=account.ig_user_id, payload=change)
    return ParsedChange(key, "instagram", "comments", account.ig_user_id, _when(comment.get("timestamp")), change)


def _message_change(account: InstagramAccount, message: dict[str, Any]) -> ParsedChange:
    """A message read from the Conversations API, as a ``messaging`` item of the messages webhook."""
    sender = str((message.get("from") or {}).get("id", ""))
    recipients = ((message.get("to") or {}).get("data") or [{}])[0]
    created = _when(message.get("created_time"))
    body: dict[str, Any] = {"mid": str(message["id"]), "text": message.get("message", "")}
    if sender == account.ig_user_id:
        body["is_echo"] = True
    item = {
        "sender": {"id": sender},
        "recipient": {"id": str(recipients.get("id", ""))},
        "timestamp": int(created.timestamp() * 1000) if created else 0,
        "message": body,
    }
    key = dedupe_key_for(field="messaging", entry_id=account.ig_user_id, payload=item)
    return ParsedChange(key, "instagram", "messaging", account.ig_user_id, created, item)


def account_backfill(*, account_id: int, now: datetime | None = None) -> StoreSummary:
    """Store what one account's recent comments and conversations hold that no webhook brought."""
    now = now or timezone.now()
    account = InstagramAccount.all_workspaces.get(pk=account_id)
    client = graph_client(account=account)
    changes: list[ParsedChange] = []
    for media in client.media_list(max_items=RECENT_MEDIA, page_size=RECENT_MEDIA):
        for comment in client.comments_list(media_id=str(media["id"]), max_items=COMMENTS_PER_MEDIA):
            changes.append(_comment_change(account, media, comment))
    for conversation in client.conversations_list(max_items=CONVERSATIONS):
        updated = _when(conversation.get("updated_time"))
        if updated is not None and updated < now - CONVERSATION_WINDOW:
            continue
        listed = client.conversation_messages(conversation_id=str(conversation["id"]))
        known = set(
            InboundEvent.objects.filter(dedupe_key__in=[f"message:{m['id']}" for m in listed]).values_list(
                "dedupe_key", flat=True
            )
        )
        for listed_message in listed:
            if f"message:{listed_message['id']}" in known:
                continue  # already stored: no need to read it
            changes.append(_message_change(account, client.message_get(message_id=str(listed_message["id"]))))
    if not changes:
        return StoreSummary(created=0, redelivered=0, stale=0)
    return webhook_store(changes=changes, count_redeliveries=False)


def accounts_backfill() -> dict[str, int]:
    """Every acting account, one at a time; one account's failure does not stop the others."""
    totals = {"accounts": 0, "found": 0, "failed": 0}
    for account_id in InstagramAccount.all_workspaces.filter(state__in=ACTING_STATES).values_list("pk", flat=True):
        try:
            summary = account_backfill(account_id=account_id)
        except Exception:
            logger.exception("Backfill of account %s failed", account_id)
            totals["failed"] += 1
            continue
        totals["accounts"] += 1
        totals["found"] += summary.created
    if totals["found"]:
        logger.info("Backfill found %d events the webhooks had missed", totals["found"])
    return totals
