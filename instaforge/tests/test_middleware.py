"""NUL characters are refused for the whole request before any view runs (instaforge.middleware; issue 18).

PostgreSQL raises on a NUL in any text it stores or compares, so each of these
was a 500 there: the inbox search (``?q=%00``), a button's value, an
invitation token in the URL, an uploaded file's name, the session cookie.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Workspace


@pytest.fixture
def logged_in(client: Client, workspace: Workspace) -> Client:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/inbox/", "q=%00"),
        ("/inbox/", "q=a%00b&state=open"),
        ("/inbox/", "%00=1"),
        ("/invitations/%00/", ""),
        ("/accounts/confirm-email/abc%00def/", ""),
    ],
)
def test_a_nul_in_the_path_or_the_query_is_a_400(logged_in: Client, path: str, query: str) -> None:
    response = logged_in.get(path, QUERY_STRING=query)
    assert response.status_code == 400
    assert b"NUL character" in response.content


def test_a_nul_in_a_form_field_or_a_file_name_is_a_400(logged_in: Client) -> None:
    assert logged_in.post(reverse("workspace_switch"), {"workspace_id": "1\x00"}).status_code == 400
    assert logged_in.post(reverse("members"), {"email": "a\x00@example.com", "role": "member"}).status_code == 400
    # Django's multipart parser already drops a NUL from a file's name; the middleware checks names too.
    upload = SimpleUploadedFile("photo\x00.jpg", b"\xff\xd8")
    assert logged_in.post(reverse("post_compose"), {"media_files": [upload]}).status_code in {200, 400}


def test_a_nul_in_a_cookie_is_a_400(client: Client) -> None:
    client.cookies["sessionid"] = "abcdefgh\x00"
    assert client.get(reverse("account_login")).status_code == 400


def test_a_json_body_is_left_for_the_view_to_read(logged_in: Client) -> None:
    # The calendar's moves and Meta's webhooks read their raw body: the middleware does not parse it.
    response = logged_in.post(
        "/webhooks/instagram/", b'{"object": "instagram\\u0000"}', content_type="application/json"
    )
    assert response.status_code != 400 or b"NUL character" not in response.content


def test_ordinary_requests_pass(logged_in: Client) -> None:
    assert logged_in.get("/inbox/", {"q": "order"}).status_code == 200
    assert logged_in.get(reverse("post_calendar"), {"date": "2030-01-01"}).status_code == 200
