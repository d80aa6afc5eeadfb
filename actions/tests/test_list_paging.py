"""The ledger page: keyset paging by (created_at, id), search, state, date range, CSV export, tenancy, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Workspace
from actions.models import Action
from conftest import csv_dicts

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _action(workspace: Workspace, account, number: int, **fields) -> Action:
    values = {
        "workspace": workspace,
        "account": account,
        "action_type": "comment_reply",
        "idempotency_key": f"a-{account.pk}-{number}",
        "payload": {"message": f"reply {number}"},
        "created_at": START + timedelta(hours=number),
        "source_kind": "comment",
        "source_id": str(1000 + number),
    }
    values.update(fields)
    return Action.all_workspaces.create(**values)


def _ids(response) -> list[int]:
    return [action.pk for action in response.context["actions"]]


def test_older_and_newer_walk_the_ledger_without_gaps_or_repeats(owner_client) -> None:
    actions = [_action(owner_client.workspace, owner_client.account, number) for number in range(9)]
    expected = [action.pk for action in reversed(actions)]
    url = reverse("action_list")
    pages = []
    response = owner_client.get(url, {"size": 4})
    pages.append(_ids(response))
    while response.context["page"].has_older:
        response = owner_client.get(url + response.context["page"].older_link)
        pages.append(_ids(response))
    assert [len(page) for page in pages] == [4, 4, 1]
    assert [pk for page in pages for pk in page] == expected
    newer = owner_client.get(url + response.context["page"].newer_link)
    assert _ids(newer) == pages[1]
    # An action planned while someone reads page 2 does not shift page 2 (keyset, not OFFSET).
    _action(owner_client.workspace, owner_client.account, 50)
    again = owner_client.get(url + "?" + newer.request["QUERY_STRING"])
    assert _ids(again) == pages[1]


def test_search_by_type_state_source_reason_and_id(owner_client) -> None:
    ws, account = owner_client.workspace, owner_client.account
    # A source id no action of the test can have as its own id (a search by number matches both).
    dm = _action(ws, account, 1, action_type="dm", source_kind="conversation", source_id="987654321")
    denied = _action(ws, account, 2, state="denied", last_reason="warm-up day 1 allows no comment replies")
    publish = _action(ws, account, 3, action_type="publish", source_kind="post", source_id="5")
    url = reverse("action_list")
    assert _ids(owner_client.get(url, {"q": "direct message"})) == [dm.pk]
    assert _ids(owner_client.get(url, {"q": "publish"})) == [publish.pk]
    assert _ids(owner_client.get(url, {"q": "denied"})) == [denied.pk]
    assert _ids(owner_client.get(url, {"q": "WARM-UP"})) == [denied.pk]
    assert _ids(owner_client.get(url, {"q": "987654321"})) == [dm.pk]
    assert _ids(owner_client.get(url, {"q": f"#{publish.pk}"})) == [publish.pk]
    # The state filter that was there before still works, with the search.
    assert _ids(owner_client.get(url, {"state": "denied"})) == [denied.pk]
    assert _ids(owner_client.get(url, {"state": "planned", "q": "warm-up"})) == []


def test_date_range_and_csv_carry_the_same_filters(owner_client) -> None:
    ws, account = owner_client.workspace, owner_client.account
    inside = [_action(ws, account, number, state="succeeded") for number in (0, 5, 30)]  # 1 and 2 March
    _action(ws, account, 60, state="succeeded")  # 3 March
    _action(ws, account, 6, state="failed")
    url = reverse("action_list")
    page = owner_client.get(url, {"from": "2025-03-01", "to": "2025-03-02", "state": "succeeded"})
    assert _ids(page) == [action.pk for action in reversed(inside)]
    link = page.context["list_query"].csv_link()
    assert "state=succeeded" in link and "from=2025-03-01" in link
    assert f'href="{link.replace("&", "&amp;")}"' in page.content.decode()
    export = owner_client.get(url + link)
    rows = csv_dicts(export)
    assert [int(row["id"]) for row in rows] == [action.pk for action in inside]
    assert rows[0]["created_at"] == "2025-03-01T12:00:00+00:00" and rows[0]["message"] == "reply 0"
    assert "ledger_2025-03-01_2025-03-02.csv" in export["Content-Disposition"]


def test_csv_guards_reasons_that_look_like_formulas(owner_client) -> None:
    _action(
        owner_client.workspace, owner_client.account, 1, last_reason="=cmd|' /C calc'!A0", payload={"message": "@x"}
    )
    row = csv_dicts(owner_client.get(reverse("action_list"), {"format": "csv"}))[0]
    assert row["last_reason"] == "'=cmd|' /C calc'!A0" and row["message"] == "'@x"


def test_tenancy_page_andcsv_dicts(owner_client, make_user, make_workspace, make_account) -> None:
    ours = _action(owner_client.workspace, owner_client.account, 1)
    other = make_workspace(owner=make_user())
    _action(other, make_account(other), 2)
    assert _ids(owner_client.get(reverse("action_list"))) == [ours.pk]
    assert [int(row["id"]) for row in csv_dicts(owner_client.get(reverse("action_list"), {"format": "csv"}))] == [
        ours.pk
    ]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "-1", "size": "0"}, 200),
        ({"size": "abc", "state": "x" * 5000}, 200),
        ({"q": "9" * 5000}, 200),
        ({"q": "²"}, 200),
        ({"from": "2020-13-45"}, 400),
        ({"from": "2020-02-30", "to": "abc"}, 400),
        ({"older": "not-a-cursor"}, 400),
        ({"newer": "1733600000000000.99999999999999999999"}, 400),
        ({"older": "1733600000000000.9223372036854775808"}, 400),  # 2**63: past a 64-bit id
    ],
)
def test_hostile_parameters(owner_client, params, status) -> None:
    _action(owner_client.workspace, owner_client.account, 1)
    response = owner_client.get(reverse("action_list"), params)
    assert response.status_code == status


def test_a_page_does_not_grow_its_queries_with_its_rows(owner_client, django_assert_max_num_queries) -> None:
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(reverse("action_list"), {"size": 200}).status_code == 200
        return len(queries)

    _action(owner_client.workspace, owner_client.account, 0)
    page_queries()
    few = page_queries()
    for number in range(1, 80):
        _action(owner_client.workspace, owner_client.account, number)
    with django_assert_max_num_queries(few):
        owner_client.get(reverse("action_list"), {"size": 200})
