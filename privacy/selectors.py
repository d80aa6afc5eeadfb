"""Reads for the data lifecycle's pages."""

from __future__ import annotations

from accounts.models import InstagramAccount, Membership
from engagement.models import Comment
from messaging.models import Conversation, Message
from privacy.models import DataDeletionRequest
from publishing.models import ScheduledPost


def deletion_request_by_code(*, confirmation_code: str) -> DataDeletionRequest | None:
    """The data deletion request with this confirmation code (the public status page's only key), or None."""
    if not confirmation_code or len(confirmation_code) > 40:
        return None
    return DataDeletionRequest.objects.filter(confirmation_code=confirmation_code).first()


def workspace_holdings_count() -> dict[str, int]:
    """What the workspace in scope holds, by kind, for the page that deletes it (one count query per kind)."""
    return {
        "Instagram accounts": InstagramAccount.objects.count(),
        "conversations": Conversation.objects.count(),
        "comments": Comment.objects.count(),
        "posts": ScheduledPost.objects.count(),
        "members": Membership.objects.count(),
    }


def account_holdings_count(*, account: InstagramAccount) -> dict[str, int]:
    """What InstaForge holds about one account of the workspace in scope, for the page that disconnects it."""
    return {
        "conversations": Conversation.objects.filter(account=account).count(),
        "messages": Message.objects.filter(account=account).count(),
        "comments": Comment.objects.filter(account=account).count(),
        "posts": ScheduledPost.objects.filter(account=account).count(),
    }
