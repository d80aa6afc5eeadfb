"""Bench accounts answered by the Graph API stub (devtools/graph_stub.py) instead of the sandbox.

The stub accepts any token and keeps no database, so an account is an InstagramAccount row alone: ACTIVE, an
encrypted token of its own, its ids in Meta's formats (a 17-digit Instagram user id starting 178414, comment
ids of 17–18 digits, commenters as 16-digit Instagram-scoped ids). Each comment is registered with the stub
(``GraphStub.comment_add``), which then knows who wrote it (a private reply's answer names them).
"""

from __future__ import annotations

import secrets

from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Workspace
from accounts.vault import token_encrypt
from devtools.graph_stub import GraphStub

# Distinct ranges per benchmark, so two benchmarks sharing a database never make the same ids.
IG_USER_ID_BASE = 17_841_490_000_000_000
COMMENT_ID_BASE = 17_990_000_000_000_000
COMMENTER_ID_BASE = 6_900_000_000_000_000
ACCOUNTS_MAX = 10_000


def stub_accounts(
    workspace: Workspace, *, stub: GraphStub, accounts: int, comments: int, prefix: str
) -> list[tuple[InstagramAccount, list[str]]]:
    """``accounts`` ACTIVE accounts named ``<prefix><n>``, each with ``comments`` comment ids known to ``stub``.

    The same shape as ``devtools.seeding.connected_accounts`` (the sandbox's), for the same benchmark code.
    """
    if accounts > ACCOUNTS_MAX:
        raise ValueError(f"at most {ACCOUNTS_MAX} stub accounts")
    made = []
    now = timezone.now()
    for number in range(accounts):
        account = InstagramAccount.all_workspaces.create(
            workspace=workspace,
            ig_user_id=str(IG_USER_ID_BASE + number),
            username=f"{prefix}{number}",
            state=AccountState.ACTIVE,
            access_token_encrypted=token_encrypt(plaintext="IGAA" + secrets.token_hex(40)),
            connected_at=now,
        )
        comment_ids = []
        for index in range(comments):
            # The index first: in id order the comments of the accounts interleave, as the sandbox's random
            # ids do (the benchmark plans its actions in comment id order, like real traffic).
            comment_id = str(COMMENT_ID_BASE + index * ACCOUNTS_MAX + number)
            commenter = str(COMMENTER_ID_BASE + index * ACCOUNTS_MAX + number)
            stub.comment_add(comment_id=comment_id, commenter_id=commenter, username=f"fan{number}_{index}")
            comment_ids.append(comment_id)
        made.append((account, comment_ids))
    return made
