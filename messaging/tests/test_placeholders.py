"""A DM knows a person's placeholders as a comment reply does (``instaforge.text``), and a flow's variables."""

from __future__ import annotations

from accounts.models import InstagramAccount
from accounts.tenancy import workspace_scope
from messaging.automation import render
from messaging.models import Conversation


def conversation(account: InstagramAccount, **fields: str) -> Conversation:
    with workspace_scope(account.workspace_id):
        return Conversation.objects.create(
            workspace_id=account.workspace_id, account=account, participant_igsid="1234567890123456", **fields
        )


def test_a_dm_fills_first_name_like_a_comment_reply(account: InstagramAccount) -> None:
    known = conversation(account, participant_username="ana", participant_name="Ana Maria")
    assert render("Hi {first_name} ({name}, {username})!", conversation=known) == "Hi Ana (Ana Maria, @ana)!"


def test_a_flow_variable_wins_over_a_person_placeholder(account: InstagramAccount) -> None:
    known = conversation(account, participant_username="ana", participant_name="Ana Maria")
    variables = {"first_name": "Annie", "postcode": 75001, "_private": "x"}
    text = render("{first_name}: {postcode} {_private}", conversation=known, variables=variables)
    assert text == "Annie: 75001 {_private}"
