"""Runs an allowed action against Instagram. The only caller of the client's writes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.models import InstagramAccount
from accounts.services import account_access_token
from actions.models import Action, ActionType
from instagram.client import InstagramClient
from safety.services import usage_observe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reconciliation:
    """What Instagram shows about an action whose outcome was unknown."""

    happened: bool
    result: dict[str, Any]


def _client(account: InstagramAccount) -> InstagramClient:
    """A client for the account whose every answer's usage headers reach the safety engine."""

    def observe(usage: dict[str, Any]) -> None:
        usage_observe(account_id=account.pk, usage=usage)

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


EXECUTORS: dict[str, Callable[[Action, InstagramClient], dict[str, Any]]] = {
    ActionType.COMMENT_REPLY: _comment_reply,
}
RECONCILERS: dict[str, Callable[[Action, InstagramClient], Reconciliation]] = {
    ActionType.COMMENT_REPLY: _comment_reply_reconcile,
}


def action_execute(*, action: Action) -> dict[str, Any]:
    """Call Instagram for ``action``. Raises the client's typed errors."""
    return EXECUTORS[action.action_type](action, _client(action.account))


def action_reconcile(*, action: Action) -> Reconciliation:
    return RECONCILERS[action.action_type](action, _client(action.account))
