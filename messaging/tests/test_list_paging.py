"""The inbox: numbered pages, search, date range on the last message, CSV export, tenancy, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Workspace
from conftest import csv_dicts
from messaging.models import Conversation, Message

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _conversation(workspace: Workspace, account, number: int, **fields) -> Conversation:
    values = {
        "workspace": workspace,
        "account": account,
        "participant_igsid": f"98{account.pk:04d}{number:08d}",
        "participant_username": f"fan{number}",
        "last_message_at": START + timedelta(hours=number),
        "last_message_preview": f"message {number}",
        "last_message_direction": "in",
    }
    values.update(fields)
    return Conversation.all_workspaces.create(**values)


def _ids(response) -> list[int]:
    return [conversation.pk for conversation in response.context["conversations"]]


def test_numbered_pages_cover_the_inbox_and_clamp_out_of_range_numbers(owner_client) -> None:
    conversations = [_conversation(owner_client.workspace, owner_client.account, n) for n in range(7)]
    expected = [conversation.pk for conversation in reversed(conversations)]
    url = reverse("conversation_list")
    pages = [_ids(owner_client.get(url, {"size": 3, "page": number})) for number in (1, 2, 3)]
    assert [pk for page in pages for pk in page] == expected
    first = owner_client.get(url, {"size": 3})
    body = first.content.decode()
    assert "Page 1 of 3" in body and 'href="?size=3&amp;page=2"' in body
    assert _ids(owner_client.get(url, {"size": 3, "page": 99})) == pages[2]  # past the end: the last page
    assert _ids(owner_client.get(url, {"size": 3, "page": 0})) == pages[0]


def test_search_state_and_date_range_together(owner_client) -> None:
    ws, account = owner_client.workspace, owner_client.account
    anna = _conversation(ws, account, 1, participant_username="anna", participant_name="Anna Berg")
    by_name = _conversation(ws, account, 30, participant_username="zz", participant_name="Anna Other")
    by_message = _conversation(ws, account, 2)
    Message.all_workspaces.create(
        workspace=ws, account=account, conversation=by_message, mid="m-1", direction="in", text="where is ANNA's order"
    )
    _conversation(ws, account, 3, participant_username="bob")
    url = reverse("conversation_list")
    assert set(_ids(owner_client.get(url, {"q": "anna"}))) == {anna.pk, by_name.pk, by_message.pk}
    # 30 hours after noon on 1 March is 2 March: outside a range of 1 March alone.
    assert set(_ids(owner_client.get(url, {"q": "anna", "from": "2025-03-01", "to": "2025-03-01"}))) == {
        anna.pk,
        by_message.pk,
    }
    anna.state = "closed"
    anna.save(update_fields=["state"])
    assert _ids(owner_client.get(url, {"q": "anna", "state": "closed", "to": "2025-03-01"})) == [anna.pk]


def test_csv_rows_equal_the_filtered_inbox(owner_client) -> None:
    ws, account = owner_client.workspace, owner_client.account
    for number in range(5):
        _conversation(ws, account, number, participant_name="=1+1" if number == 0 else "")
    _conversation(ws, account, 40)  # 2 March
    url = reverse("conversation_list")
    page = owner_client.get(url, {"from": "2025-03-01", "to": "2025-03-01", "size": 2})
    link = page.context["list_query"].csv_link()
    assert "size" not in link  # the export has every row of the filters, not one page
    rows = csv_dicts(owner_client.get(url + link))
    every = _ids(owner_client.get(url, {"from": "2025-03-01", "to": "2025-03-01"}))
    assert [int(row["id"]) for row in rows] == every and len(every) == 5
    assert rows[-1]["participant_name"] == "'=1+1"
    assert rows[-1]["last_message_at"] == "2025-03-01T12:00:00+00:00"


def test_another_workspace_sees_none_of_the_conversations(owner_client, make_user, make_workspace, make_account):
    ours = _conversation(owner_client.workspace, owner_client.account, 1)
    other = make_workspace(owner=make_user())
    _conversation(other, make_account(other), 1)
    assert _ids(owner_client.get(reverse("conversation_list"))) == [ours.pk]
    rows = csv_dicts(owner_client.get(reverse("conversation_list"), {"format": "csv"}))
    assert [int(row["id"]) for row in rows] == [ours.pk]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "-1"}, 200),
        ({"page": "abc", "size": "1e9"}, 200),
        ({"page": "99999999999999999999"}, 200),
        ({"assigned": "99999999999999999999", "q": "x" * 50_000}, 200),
        ({"from": "2020-13-45"}, 400),
        ({"to": "0001-01-01"}, 200),
        ({"from": "9999-12-31", "format": "csv"}, 200),
    ],
)
def test_hostile_parameters(owner_client, params, status) -> None:
    _conversation(owner_client.workspace, owner_client.account, 1)
    response = owner_client.get(reverse("conversation_list"), params)
    assert response.status_code == status


def test_a_page_does_not_grow_its_queries_with_its_rows(owner_client, django_assert_max_num_queries) -> None:
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(reverse("conversation_list"), {"size": 200}).status_code == 200
        return len(queries)

    _conversation(owner_client.workspace, owner_client.account, 0)
    page_queries()
    few = page_queries()
    for number in range(1, 60):
        _conversation(owner_client.workspace, owner_client.account, number)
    with django_assert_max_num_queries(few):
        owner_client.get(reverse("conversation_list"), {"size": 200})
