"""A comment reply knows a person's placeholders as a DM does (``instaforge.text``): the name comes from the inbox."""

from __future__ import annotations

import pytest

from accounts.models import InstagramAccount
from engagement.models import Comment
from engagement.services import comment_template_render
from messaging.models import Conversation


@pytest.fixture
def account(make_account, workspace, in_workspace) -> InstagramAccount:
    return make_account(workspace, username="bakery")


TEMPLATE = "Hi {first_name} ({name}, {username}), “{keyword}”!"


def test_a_commenter_who_wrote_to_the_inbox_is_called_by_their_name(account: InstagramAccount) -> None:
    Conversation.objects.create(
        workspace_id=account.workspace_id,
        account=account,
        participant_igsid="1234567890123456",
        participant_username="ana",
        participant_name="Ana Maria",
    )
    comment = Comment(account=account, from_username="ana", text="price?")
    rendered = comment_template_render(template=TEMPLATE, account=account, comment=comment, keyword="price")
    assert rendered == "Hi Ana (Ana Maria, @ana), “price”!"


def test_a_commenter_the_inbox_does_not_know_is_called_by_their_username(account: InstagramAccount) -> None:
    comment = Comment(account=account, from_username="ana", text="price?")
    rendered = comment_template_render(template=TEMPLATE, account=account, comment=comment, keyword="price")
    assert rendered == "Hi (ana, @ana), “price”!"
