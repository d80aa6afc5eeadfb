"""How the executor runs (and reconciles) the comment actions of this app: private replies and moderation.

Registered from ``EngagementConfig.ready`` with ``actions.executor.executor_register``.
A reconciler answers, for an action whose outcome is unknown, whether
Instagram shows it happened: the comment's hidden state, its existence, or
our message in the conversation with the commenter.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.dateparse import parse_datetime

from actions.executor import Reconciliation, executor_register
from actions.models import Action, ActionType
from instagram.client import InstagramClient

RECONCILE_SLACK = timedelta(minutes=2)


def _private_reply(action: Action, client: InstagramClient) -> dict[str, Any]:
    """``POST /me/messages`` with ``recipient: {"comment_id"}``: one per comment, within 7 days."""
    return client.private_reply(comment_id=action.payload["comment_id"], text=action.payload["message"])


def _private_reply_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Our message in the conversation with the commenter, sent after the attempt began."""
    account_id = action.account.ig_user_id
    recipient_id = str(action.payload.get("recipient_id") or "")
    if not recipient_id:
        return Reconciliation(False, {})
    for conversation in client.conversations_list(user_id=recipient_id, max_items=1):
        for item in client.conversation_messages(conversation_id=str(conversation["id"])):
            message = client.message_get(message_id=str(item["id"]))
            sender = str((message.get("from") or {}).get("id", ""))
            created = parse_datetime(str(message.get("created_time") or ""))
            recent = action.started_at is None or created is None or created >= action.started_at - RECONCILE_SLACK
            if sender == account_id and message.get("message") == action.payload["message"] and recent:
                return Reconciliation(
                    True, {"recipient_id": recipient_id, "message_id": message.get("id"), "reconciled": True}
                )
    return Reconciliation(False, {})


def _comment_seen(action: Action, client: InstagramClient) -> dict[str, Any] | None:
    """The comment as Instagram lists it now (among its post's comments, or its parent's replies), or None."""
    comment_id = action.payload["comment_id"]
    parent_id = action.payload.get("parent_id")
    if parent_id:
        listed = client.comment_replies(comment_id=parent_id)
    elif action.payload.get("media_id"):
        listed = client.comments_list(media_id=action.payload["media_id"], fields="id,hidden")
    else:
        return None
    return next((comment for comment in listed if str(comment.get("id")) == comment_id), None)


def _hide(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_hide(comment_id=action.payload["comment_id"], hide=True)


def _unhide(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_hide(comment_id=action.payload["comment_id"], hide=False)


def _hidden_state_reconcile(hidden: bool) -> Any:
    def reconcile(action: Action, client: InstagramClient) -> Reconciliation:
        seen = _comment_seen(action, client)
        if seen is not None and "hidden" in seen and bool(seen["hidden"]) is hidden:
            return Reconciliation(True, {"success": True, "reconciled": True})
        return Reconciliation(False, {})

    return reconcile


def _delete(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_delete(comment_id=action.payload["comment_id"])


def _delete_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    if not (action.payload.get("parent_id") or action.payload.get("media_id")):
        return Reconciliation(False, {})
    if _comment_seen(action, client) is None:
        return Reconciliation(True, {"success": True, "reconciled": True})
    return Reconciliation(False, {})


def executors_register() -> None:
    executor_register(ActionType.PRIVATE_REPLY, run=_private_reply, reconcile=_private_reply_reconcile)
    executor_register(ActionType.HIDE_COMMENT, run=_hide, reconcile=_hidden_state_reconcile(True))
    executor_register(ActionType.UNHIDE_COMMENT, run=_unhide, reconcile=_hidden_state_reconcile(False))
    executor_register(ActionType.DELETE_COMMENT, run=_delete, reconcile=_delete_reconcile)
