"""The publishing queue: numbered pages, caption search, scheduled date range, state filter kept, hostile input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Workspace
from publishing.models import ScheduledPost

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _post(workspace: Workspace, account, number: int, **fields) -> ScheduledPost:
    values = {
        "workspace": workspace,
        "account": account,
        "caption": f"caption {number}",
        "state": "scheduled",
        "scheduled_at": START + timedelta(hours=number),
    }
    values.update(fields)
    return ScheduledPost.all_workspaces.create(**values)


def _ids(response) -> list[int]:
    return [row["post"].pk for row in response.context["rows"]]


def test_pages_in_queue_order_keep_the_state_filter(owner_client) -> None:
    posts = [_post(owner_client.workspace, owner_client.account, n) for n in range(5)]
    _post(owner_client.workspace, owner_client.account, 9, state="draft", scheduled_at=None)
    url = reverse("post_list")
    first = owner_client.get(url, {"state": "scheduled", "size": 2})
    second = owner_client.get(url, {"state": "scheduled", "size": 2, "page": 2})
    last = owner_client.get(url, {"state": "scheduled", "size": 2, "page": 3})
    assert _ids(first) + _ids(second) + _ids(last) == [post.pk for post in posts]
    assert 'href="?size=2&amp;state=scheduled&amp;page=2"' in first.content.decode()
    # The state badges keep the search.
    searched = owner_client.get(url, {"q": "caption"})
    assert 'href="?q=caption&amp;state=draft"' in searched.content.decode()


def test_caption_search_and_scheduled_date_range(owner_client) -> None:
    ws, account = owner_client.workspace, owner_client.account
    spring = _post(ws, account, 1, caption="Spring SALE starts")
    _post(ws, account, 2, caption="New arrivals")
    later = _post(ws, account, 48, caption="sale ends")  # 3 March
    _post(ws, account, 3, caption="sale draft", state="draft", scheduled_at=None)
    url = reverse("post_list")
    assert set(_ids(owner_client.get(url, {"q": "sale"}))) >= {spring.pk, later.pk}
    assert _ids(owner_client.get(url, {"q": "sale", "from": "2025-03-01", "to": "2025-03-02"})) == [spring.pk]
    assert _ids(owner_client.get(url, {"from": "2025-03-03"})) == [later.pk]
    empty = owner_client.get(url, {"q": "no such caption"})
    assert 'data-testid="list-empty"' in empty.content.decode()


def test_another_workspace_posts_are_not_listed(owner_client, make_user, make_workspace, make_account) -> None:
    ours = _post(owner_client.workspace, owner_client.account, 1, caption="shared words")
    other = make_workspace(owner=make_user())
    _post(other, make_account(other), 1, caption="shared words")
    assert _ids(owner_client.get(reverse("post_list"), {"q": "shared"})) == [ours.pk]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"page": "-1"}, 200),
        ({"page": "abc", "state": "bogus"}, 200),
        ({"size": "-3", "q": "\u202e" * 300}, 200),
        ({"from": "2020-13-45", "to": "2020-01-01"}, 400),
        ({"to": "9999-12-31", "from": "0001-01-01"}, 200),
    ],
)
def test_hostile_parameters(owner_client, params, status) -> None:
    _post(owner_client.workspace, owner_client.account, 1)
    assert owner_client.get(reverse("post_list"), params).status_code == status


def test_a_page_does_not_grow_its_queries_with_its_rows(owner_client, django_assert_max_num_queries) -> None:
    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(reverse("post_list"), {"size": 200}).status_code == 200
        return len(queries)

    _post(owner_client.workspace, owner_client.account, 0)
    page_queries()
    few = page_queries()
    for number in range(1, 40):
        _post(owner_client.workspace, owner_client.account, number)
    with django_assert_max_num_queries(few):
        owner_client.get(reverse("post_list"), {"size": 200})
