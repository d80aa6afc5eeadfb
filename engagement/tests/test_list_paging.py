"""The comment list: keyset paging, search, date range, CSV export, tenancy and hostile parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Workspace
from actions.models import Action
from conftest import csv_dicts
from engagement.models import Comment

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _comment(workspace: Workspace, account, number: int, **fields) -> Comment:
    values = {
        "workspace": workspace,
        "account": account,
        "ig_comment_id": f"c-{account.pk}-{number}",
        "from_username": f"follower{number}",
        "text": f"comment number {number}",
        "received_at": START + timedelta(hours=number),
    }
    values.update(fields)
    return Comment.all_workspaces.create(**values)


def _ids(response) -> list[int]:
    return [comment.pk for comment in response.context["comments"]]


def test_pages_walk_every_comment_once_older_then_newer(owner_client) -> None:
    comments = [_comment(owner_client.workspace, owner_client.account, number) for number in range(7)]
    # Two comments at the same instant: the id breaks the tie, neither is skipped nor repeated.
    comments.append(_comment(owner_client.workspace, owner_client.account, 99, received_at=comments[3].received_at))
    expected = [c.pk for c in sorted(comments, key=lambda c: (c.received_at, c.pk), reverse=True)]
    url = reverse("comment_list")
    seen: list[list[int]] = []
    response = owner_client.get(url, {"size": 3})
    while True:
        assert response.status_code == 200
        seen.append(_ids(response))
        page = response.context["page"]
        if not page.has_older:
            break
        response = owner_client.get(url + page.older_link)
    assert [len(ids) for ids in seen] == [3, 3, 2]
    assert [pk for ids in seen for pk in ids] == expected
    assert not response.context["page"].has_older and response.context["page"].has_newer
    # Back: "Newer" from the last page gives the middle page again, then the first, which has no newer.
    back = owner_client.get(url + response.context["page"].newer_link)
    assert _ids(back) == seen[1]
    first = owner_client.get(url + back.context["page"].newer_link)
    assert _ids(first) == seen[0]
    assert not first.context["page"].has_newer
    assert 'data-testid="pager-older"' in first.content.decode()


def test_a_single_page_shows_no_pager(owner_client) -> None:
    _comment(owner_client.workspace, owner_client.account, 1)
    response = owner_client.get(reverse("comment_list"))
    assert len(_ids(response)) == 1
    assert 'data-testid="pager"' not in response.content.decode()


def test_search_finds_text_and_commenter(owner_client) -> None:
    lamp = _comment(owner_client.workspace, owner_client.account, 1, text="Is the LAMP in stock?")
    anna = _comment(owner_client.workspace, owner_client.account, 2, from_username="anna.b", text="love it")
    _comment(owner_client.workspace, owner_client.account, 3, text="nice")
    url = reverse("comment_list")
    assert _ids(owner_client.get(url, {"q": "lamp"})) == [lamp.pk]
    assert _ids(owner_client.get(url, {"q": "@anna"})) == [anna.pk]
    empty = owner_client.get(url, {"q": "nothing like this"})
    assert _ids(empty) == [] and 'data-testid="list-empty"' in empty.content.decode()


def test_date_range_includes_both_days(owner_client) -> None:
    day = timedelta(days=1)
    before = _comment(owner_client.workspace, owner_client.account, 1, received_at=START - day)
    first = _comment(owner_client.workspace, owner_client.account, 2, received_at=START.replace(hour=0))
    last = _comment(owner_client.workspace, owner_client.account, 3, received_at=START + day + timedelta(hours=11))
    after = _comment(owner_client.workspace, owner_client.account, 4, received_at=START + 2 * day)
    response = owner_client.get(reverse("comment_list"), {"from": "2025-03-01", "to": "2025-03-02"})
    assert _ids(response) == [last.pk, first.pk]
    assert before.pk not in _ids(response) and after.pk not in _ids(response)


def test_csv_has_the_filtered_rows_streamed_with_iso_times(owner_client) -> None:
    keep = [_comment(owner_client.workspace, owner_client.account, n, text=f"price {n}") for n in range(3)]
    _comment(owner_client.workspace, owner_client.account, 9, text="other")
    Action.all_workspaces.create(
        workspace=owner_client.workspace,
        account=owner_client.account,
        action_type="comment_reply",
        idempotency_key="reply-1",
        payload={"message": "It is 20 €"},
        source_kind="comment",
        source_id=str(keep[0].pk),
        state="succeeded",
    )
    url = reverse("comment_list")
    page = owner_client.get(url, {"q": "price", "from": "2025-03-01", "to": "2025-03-01"})
    assert 'data-testid="list-csv"' in page.content.decode()
    export = owner_client.get(url + page.context["list_query"].csv_link())
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    assert "comments_2025-03-01_2025-03-01.csv" in export["Content-Disposition"]
    rows = csv_dicts(export)
    assert [int(row["id"]) for row in rows] == sorted(_ids(page))  # the same rows, oldest first
    assert rows[0]["reply_state"] == "succeeded" and rows[0]["reply_message"] == "It is 20 €"
    assert rows[0]["received_at"] == "2025-03-01T12:00:00+00:00"
    assert rows[1]["reply_state"] == ""


def test_csv_cells_cannot_run_as_formulas(owner_client) -> None:
    for number, text in enumerate(['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tx", "\rx", "fine"]):
        _comment(owner_client.workspace, owner_client.account, number, text=text, from_username=f"=user{number}")
    rows = csv_dicts(owner_client.get(reverse("comment_list"), {"format": "csv"}))
    texts = [row["text"] for row in rows]
    assert texts == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\rx", "fine"]
    assert all(row["from_username"].startswith("'=") for row in rows)


def test_another_workspace_sees_none_of_the_comments(
    owner_client, client: Client, make_user, make_workspace, make_account
) -> None:
    ours = _comment(owner_client.workspace, owner_client.account, 1, text="secret price")
    stranger = make_user()
    other = make_workspace(owner=stranger)
    theirs = _comment(other, make_account(other), 2, text="secret price")
    assert _ids(owner_client.get(reverse("comment_list"), {"q": "secret"})) == [ours.pk]
    rows = csv_dicts(owner_client.get(reverse("comment_list"), {"format": "csv"}))
    assert [int(row["id"]) for row in rows] == [ours.pk]
    other_client = Client()
    other_client.force_login(stranger)
    assert _ids(other_client.get(reverse("comment_list"))) == [theirs.pk]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "-1"}, 200),
        ({"page": "abc", "size": "-5"}, 200),
        ({"size": "99999999999999999999"}, 200),
        ({"q": "x" * 100_000}, 200),
        ({"q": "'; DROP TABLE comment; --"}, 200),
        ({"from": "2020-13-45"}, 400),
        ({"to": "9999-12-31"}, 200),
        ({"from": "0001-01-01", "to": "0001-01-01"}, 200),
        ({"from": "2025-03-02", "to": "2025-03-01"}, 400),
        ({"older": "abc"}, 400),
        ({"older": "999999999999999999.1"}, 400),
        ({"older": "99999999999999999.1"}, 200),  # a valid position in year 5138: an empty page
        ({"newer": "-99999999999999999.1"}, 400),  # before year 1
        ({"older": "1.2.3"}, 400),
        ({"from": "2020-13-45", "format": "csv"}, 400),
        ({"format": "xlsx"}, 200),
    ],
)
def test_hostile_parameters_get_a_page_or_a_400_with_a_message(owner_client, params, status) -> None:
    _comment(owner_client.workspace, owner_client.account, 1)
    response = owner_client.get(reverse("comment_list"), params)
    assert response.status_code == status
    if status == 400:
        assert 'data-testid="list-errors"' in response.content.decode()


def test_a_page_does_not_grow_its_queries_with_its_rows(owner_client, django_assert_max_num_queries) -> None:
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(reverse("comment_list"), {"size": 200}).status_code == 200
        return len(queries)

    for number in range(5):
        _comment(owner_client.workspace, owner_client.account, number)
    page_queries()  # the first request of a session also reads and saves the session's own rows
    few = page_queries()
    for number in range(5, 60):
        comment = _comment(owner_client.workspace, owner_client.account, number)
        Action.all_workspaces.create(
            workspace=owner_client.workspace,
            account=owner_client.account,
            action_type="comment_reply",
            idempotency_key=f"r-{number}",
            source_kind="comment",
            source_id=str(comment.pk),
        )
    assert page_queries() == few
    with django_assert_max_num_queries(12):
        owner_client.get(reverse("comment_list"), {"size": 200, "q": "comment"})
