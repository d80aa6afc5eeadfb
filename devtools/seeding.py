"""Instagram accounts connected to the sandbox in bulk, for load tests and benchmarks.

The token is issued by the sandbox directly (no OAuth round trip: thousands of
comments over dozens of accounts are set up in seconds); each account is
ACTIVE and has follower comments on its post to answer.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Workspace
from accounts.vault import token_encrypt
from sandbox.models import SandboxAccount, SandboxComment, SandboxToken
from sandbox.services import sandbox_account_create

COMMENT_SCOPES = "instagram_business_basic,instagram_business_manage_comments"


def sandbox_connected_account(
    workspace: Workspace, *, username: str, scopes: str = COMMENT_SCOPES
) -> tuple[InstagramAccount, SandboxAccount]:
    """An ACTIVE account of ``workspace`` connected to a new sandbox account with a 60-day token."""
    sandbox_account = sandbox_account_create(username=username)
    token = SandboxToken.objects.create(
        token="IGAA" + secrets.token_hex(40),
        account=sandbox_account,
        kind=SandboxToken.Kind.LONG,
        scopes=scopes,
        expires_at=timezone.now() + timedelta(days=60),
    )
    account = InstagramAccount.all_workspaces.create(
        workspace=workspace,
        ig_user_id=sandbox_account.user_id,
        username=sandbox_account.username,
        state=AccountState.ACTIVE,
        access_token_encrypted=token_encrypt(plaintext=token.token),
        connected_at=timezone.now(),
    )
    return account, sandbox_account


def connected_accounts(
    workspace: Workspace, *, accounts: int, comments: int, prefix: str, text: str = "hi?", id_digit: str = "7"
) -> list[tuple[InstagramAccount, list[str]]]:
    """``accounts`` accounts named ``<prefix><n>``, each with ``comments`` comment ids from distinct followers."""
    made = []
    for number in range(accounts):
        account, sandbox_account = sandbox_connected_account(workspace, username=f"{prefix}{number}")
        media = sandbox_account.media.get()
        rows = SandboxComment.objects.bulk_create(
            SandboxComment(
                media=media, from_id=f"{id_digit}{number:04d}{index:05d}", from_username=f"fan{index}", text=text
            )
            for index in range(comments)
        )
        made.append((account, [row.comment_id for row in rows]))
    return made
