"""The action types of comments: public replies, private replies (comment to DM) and moderation.

Declared once each as an ``ActionSpec`` and registered from ``EngagementConfig.ready``.
A reconciler answers, for an action whose outcome is unknown, whether
Instagram shows it happened: our reply among the comment's replies, the
comment's hidden state, its existence, or our message in the conversation
with the commenter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actions.models import Action, ActionType
from actions.specs import ActionPayload, ActionSpec, LimitUse, Reconciliation
from instagram.client import InstagramClient
from messaging.executors import our_message_reconcile
from safety.policies import PRIVATE_REPLIES, SEND_API, SEND_API_AUDIO_VIDEO


@dataclass(frozen=True)
class CommentReplyPayload(ActionPayload):
    comment_id: str
    message: str


def _comment_reply(action: Action, client: InstagramClient) -> dict[str, Any]:
    payload = CommentReplyPayload.of(action)
    return client.comment_reply(comment_id=payload.comment_id, message=payload.message)


def _comment_reply_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Did our reply reach the comment? Look for it among the comment's replies."""
    payload = CommentReplyPayload.of(action)
    account_id = action.account.ig_user_id
    for reply in client.comment_replies(comment_id=payload.comment_id):
        author = reply.get("from") or {}
        if reply.get("text") == payload.message and str(author.get("id", account_id)) == account_id:
            return Reconciliation(True, {"id": reply.get("id"), "reconciled": True})
    return Reconciliation(False, {})


@dataclass(frozen=True)
class PrivateReplyPayload(ActionPayload):
    comment_id: str
    message: str
    recipient_id: str | None = None  # the commenter, whose conversation the reconciler reads


def _private_reply(action: Action, client: InstagramClient) -> dict[str, Any]:
    """``POST /me/messages`` with ``recipient: {"comment_id"}``: one per comment, within 7 days."""
    payload = PrivateReplyPayload.of(action)
    return client.private_reply(comment_id=payload.comment_id, text=payload.message)


def _private_reply_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Our message in the conversation with the commenter, sent after the attempt began."""
    payload = PrivateReplyPayload.of(action)
    recipient_id = str(payload.recipient_id or "")
    if not recipient_id:
        return Reconciliation(False, {})
    return our_message_reconcile(action, client, recipient_id=recipient_id, text=payload.message)


@dataclass(frozen=True)
class ModerationPayload(ActionPayload):
    comment_id: str
    media_id: str | None = None  # the post, whose comments list shows a top-level comment
    parent_id: str | None = None  # for a reply: the comment whose replies show it


def _comment_seen(payload: ModerationPayload, client: InstagramClient) -> dict[str, Any] | None:
    """The comment as Instagram lists it now (among its post's comments, or its parent's replies), or None."""
    if payload.parent_id:
        listed = client.comment_replies(comment_id=payload.parent_id)
    elif payload.media_id:
        listed = client.comments_list(media_id=payload.media_id, fields="id,hidden")
    else:
        return None
    return next((comment for comment in listed if str(comment.get("id")) == payload.comment_id), None)


def _hide(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_hide(comment_id=ModerationPayload.of(action).comment_id, hide=True)


def _unhide(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_hide(comment_id=ModerationPayload.of(action).comment_id, hide=False)


def _hidden_state_reconcile(hidden: bool) -> Any:
    def reconcile(action: Action, client: InstagramClient) -> Reconciliation:
        seen = _comment_seen(ModerationPayload.of(action), client)
        if seen is not None and "hidden" in seen and bool(seen["hidden"]) is hidden:
            return Reconciliation(True, {"success": True, "reconciled": True})
        return Reconciliation(False, {})

    return reconcile


def _delete(action: Action, client: InstagramClient) -> dict[str, Any]:
    return client.comment_delete(comment_id=ModerationPayload.of(action).comment_id)


def _delete_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    payload = ModerationPayload.of(action)
    if not (payload.parent_id or payload.media_id):
        return Reconciliation(False, {})
    if _comment_seen(payload, client) is None:
        return Reconciliation(True, {"success": True, "reconciled": True})
    return Reconciliation(False, {})


def _moderation(action_type: str, run: Any, reconcile: Any) -> ActionSpec[ModerationPayload]:
    return ActionSpec(
        action_type=action_type,
        payload=ModerationPayload,
        run=run,
        reconcile=reconcile,
        capability="moderation",
        policy_key=None,
        content=True,
        limits=(),
    )


ACTION_SPECS: tuple[ActionSpec[Any], ...] = (
    ActionSpec(
        action_type=ActionType.COMMENT_REPLY,
        payload=CommentReplyPayload,
        run=_comment_reply,
        reconcile=_comment_reply_reconcile,
        capability="comment_reply",
        policy_key=("comment_reply", "comment_replies"),
        content=True,
        limits=(),
    ),
    ActionSpec(
        action_type=ActionType.PRIVATE_REPLY,
        payload=PrivateReplyPayload,
        run=_private_reply,
        reconcile=_private_reply_reconcile,
        capability="private_reply",
        policy_key=("private_reply", "private_replies"),
        content=True,
        # Sent with the Send API, and counted by Meta's own private replies limit.
        limits=(LimitUse(SEND_API), LimitUse(SEND_API_AUDIO_VIDEO), LimitUse(PRIVATE_REPLIES)),
    ),
    _moderation(ActionType.HIDE_COMMENT, _hide, _hidden_state_reconcile(True)),
    _moderation(ActionType.UNHIDE_COMMENT, _unhide, _hidden_state_reconcile(False)),
    _moderation(ActionType.DELETE_COMMENT, _delete, _delete_reconcile),
)
