"""The dispatch benchmark's accounts answered by the Graph API stub: ready to act, their comments known to the stub."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from accounts.models import AccountState, Workspace
from accounts.services import account_access_token
from devtools.bench_accounts import stub_accounts
from devtools.graph_stub import GraphStub
from instagram.client import InstagramClient


@pytest.fixture
def stub(settings: Settings) -> Iterator[GraphStub]:
    graph = GraphStub()
    settings.INSTAGRAM_GRAPH_URL = graph.start()
    yield graph
    graph.stop()


def test_stub_accounts_act_with_their_own_tokens_and_their_comments_interleave(db: None, stub: GraphStub) -> None:
    workspace = Workspace.objects.create(name="Bench")
    made = stub_accounts(workspace, stub=stub, accounts=3, comments=4, prefix="benchstub")

    assert [account.username for account, _ in made] == ["benchstub0", "benchstub1", "benchstub2"]
    assert {account.state for account, _ in made} == {AccountState.ACTIVE}
    tokens = {account_access_token(account=account) for account, _ in made}
    assert len(tokens) == 3 and all(token.startswith("IGAA") for token in tokens)
    assert all(len(account.ig_user_id) == 17 and account.ig_user_id.startswith("178414") for account, _ in made)
    comment_ids = [comment_id for _, ids in made for comment_id in ids]
    assert len(set(comment_ids)) == 12 and all(len(comment_id) == 17 for comment_id in comment_ids)
    # In id order (the benchmark plans replies so) the accounts take turns, as the sandbox's random ids do.
    owner = {comment_id: account.pk for account, ids in made for comment_id in ids}
    in_order = [owner[comment_id] for comment_id in sorted(comment_ids)]
    assert in_order[:3] == [account.pk for account, _ in made]
    assert set(stub.commenters) == set(comment_ids)

    account, ids = made[1]
    client = InstagramClient(access_token=account_access_token(account=account), max_retries=0)
    assert client.comment_reply(comment_id=ids[0], message="Thanks!")["id"]
    assert stub.calls["comment_reply"] == 1 and stub.duplicates() == 0 and not stub.unexpected
