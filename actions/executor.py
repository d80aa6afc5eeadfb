"""Runs an allowed action against Instagram. The only caller of the client's writes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import InstagramAccount
from accounts.services import account_access_token
from actions.models import Action, ActionType
from instagram.client import InstagramClient
from instagram.errors import OutsideMessagingWindowError
from safety.selectors import account_usage
from safety.services import usage_observe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciliation:
    """What Instagram shows about an action whose outcome was unknown."""

    happened: bool
    result: dict[str, Any]


def _client(account: InstagramAccount) -> InstagramClient:
    """A client for the account whose every answer's usage headers reach the safety engine.

    The account's usage row, when the gate loaded it with the account, spares
    the write of a low reading over a recent low row (``usage_observe``).
    """
    known = account_usage(account=account, read=False)

    def observe(usage: dict[str, Any]) -> None:
        usage_observe(account_id=account.pk, usage=usage, known=known)

    return InstagramClient(access_token=account_access_token(account=account), on_usage=observe)


def _comment_reply(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_reply(comment_id=action.payload["comment_id"], message=action.payload["message"])


def _comment_reply_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Did our reply reach the comment? Look for it among the comment's replies."""
    account_id = action.account.ig_user_id
    for reply in client.comment_replies(comment_id=action.payload["comment_id"]):
        author = reply.get("from") or {}
        if reply.get("text") == action.payload["message"] and str(author.get("id", account_id)) == account_id:
            return Reconciliation(True, {"id": reply.get("id"), "reconciled": True})
    return Reconciliation(False, {})


def _dm(action: Action, client: InstagramClient) -> dict[str, Any]:
    """A DM: a normal message, or with the HUMAN_AGENT tag when the inbox planned one.

    A person's reply (``sent_by``) that the gate held past the 24-hour window
    is still a person's reply, so it goes with the tag rather than being
    refused; an automated message never gets the tag.
    """
    payload = action.payload
    human_agent = bool(payload.get("human_agent"))
    window_until = parse_datetime(str(payload.get("standard_window_until") or ""))
    switched = (
        not human_agent and bool(payload.get("sent_by")) and window_until is not None and timezone.now() >= window_until
    )
    if payload.get("automated") and window_until is not None and timezone.now() >= window_until:
        # Automation never sends outside the 24-hour window, and never with the tag.
        raise OutsideMessagingWindowError("the 24-hour window closed before the automated message could be sent")
    result = client.message_send_text(
        recipient_id=payload["recipient_id"],
        text=payload["message"],
        quick_replies=payload.get("quick_replies") or None,
        human_agent=not payload.get("automated") and (human_agent or switched),
    )
    return {**result, "sent_with_human_agent_tag": True} if switched else result


# A message of ours found in the conversation counts only if Instagram dated it after the send began (with slack).
DM_RECONCILE_SLACK = timedelta(minutes=2)


def _dm_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Did our DM arrive? Look for it among the latest messages of the conversation with the recipient."""
    account_id = action.account.ig_user_id
    recipient_id = action.payload["recipient_id"]
    for conversation in client.conversations_list(user_id=recipient_id, max_items=1):
        for item in client.conversation_messages(conversation_id=str(conversation["id"])):
            message = client.message_get(message_id=str(item["id"]))
            sender = str((message.get("from") or {}).get("id", ""))
            created = parse_datetime(str(message.get("created_time") or ""))
            recent = action.started_at is None or created is None or created >= action.started_at - DM_RECONCILE_SLACK
            if sender == account_id and message.get("message") == action.payload["message"] and recent:
                return Reconciliation(
                    True, {"recipient_id": recipient_id, "message_id": message.get("id"), "reconciled": True}
                )
    return Reconciliation(False, {})


def _sender_action(action: Action, client: InstagramClient) -> dict[str, Any]:
    """A typing indicator (or mark_seen) before an automated DM (``safety.timing``)."""
    return client.sender_action(
        recipient_id=action.payload["recipient_id"], action=action.payload.get("sender_action", "typing_on")
    )


def _sender_action_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """A typing indicator leaves no trace to look for, and is over in seconds: never repeat it."""
    return Reconciliation(True, {"reconciled": True, "note": "a sender action leaves no trace; not repeated"})


EXECUTORS: dict[str, Callable[[Action, InstagramClient], dict[str, Any]]] = {
    ActionType.COMMENT_REPLY: _comment_reply,
    ActionType.DM: _dm,
    ActionType.SENDER_ACTION: _sender_action,
}
RECONCILERS: dict[str, Callable[[Action, InstagramClient], Reconciliation]] = {
    ActionType.COMMENT_REPLY: _comment_reply_reconcile,
    ActionType.DM: _dm_reconcile,
    ActionType.SENDER_ACTION: _sender_action_reconcile,
}


def executor_register(
    action_type: str,
    *,
    run: Callable[[Action, InstagramClient], dict[str, Any]],
    reconcile: Callable[[Action, InstagramClient], Reconciliation],
) -> None:
    """Let an app (publishing, engagement, ...) run its own action type; call it from ``AppConfig.ready``.

    ``run`` makes the call; ``reconcile`` answers, for an action whose outcome
    is unknown, whether Instagram shows it happened. Both are required: an
    action type that cannot be reconciled must not be sent.
    """
    EXECUTORS[action_type] = run
    RECONCILERS[action_type] = reconcile


def action_execute(*, action: Action) -> dict[str, Any]:
    """Call Instagram for ``action``. Raises the client's typed errors."""
    return EXECUTORS[action.action_type](action, _client(action.account))


def action_reconcile(*, action: Action) -> Reconciliation:
    return RECONCILERS[action.action_type](action, _client(action.account))
