"""List pages answer in a bounded number of queries, however many rows they show."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from actions.models import Action
from engagement.models import Comment, CommentRule


@pytest.fixture
def busy_workspace(client: Client, make_user, make_workspace, make_account):
    owner = make_user()
    workspace = make_workspace(owner=owner)
    for account_number in range(3):
        account = make_account(workspace)
        rule = CommentRule.all_workspaces.create(
            workspace=workspace, account=account, name=f"rule {account_number}", keywords="price", reply_templates="hi"
        )
        for number in range(15):
            comment = Comment.all_workspaces.create(
                workspace=workspace,
                account=account,
                ig_comment_id=f"{account_number}-{number}",
                text="price?",
                matched_rule=rule,
            )
            Action.all_workspaces.create(
                workspace=workspace,
                account=account,
                action_type="comment_reply",
                idempotency_key=f"comment_reply:{comment.ig_comment_id}",
                payload={"message": "hi"},
                source_kind="comment",
                source_id=str(comment.pk),
            )
    client.force_login(owner)
    return workspace


@pytest.mark.parametrize("name", ["dashboard", "comment_list", "action_list"])
def test_list_pages_use_a_bounded_number_of_queries(
    client: Client, busy_workspace, django_assert_max_num_queries, name: str
) -> None:
    # Session, user, membership, workspace list, error banner, then the page's own few queries: not one per row.
    with django_assert_max_num_queries(12):
        response = client.get(reverse(name))
    assert response.status_code == 200
    assert "price?" in response.content.decode() or name == "action_list"


def test_the_account_page_uses_a_bounded_number_of_queries(
    client: Client, busy_workspace, django_assert_max_num_queries
) -> None:
    from accounts.models import InstagramAccount

    account = InstagramAccount.all_workspaces.filter(workspace=busy_workspace).first()
    assert account is not None
    with django_assert_max_num_queries(14):
        assert client.get(reverse("account_detail", args=[account.pk])).status_code == 200
