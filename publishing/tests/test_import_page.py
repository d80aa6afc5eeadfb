"""The CSV import page: its help is a rendered table (not Markdown), its example imports as it is on the demo,
and an import ends with a confirmation of what was created, scheduled and rejected."""

from __future__ import annotations

import html
import re

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from accounts.models import Membership
from publishing.importing import IMPORT_COLUMNS
from publishing.models import PostState, ScheduledPost
from publishing.tests.conftest import jpeg, mp4
from publishing.tests.test_views import as_file

DEMO_USERNAME = "demo_bakery"  # devtools demo_setup's account


def as_file_csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("posts.csv", text.encode(), content_type="text/csv")


def _logged_in(client: Client, workspace, make_account, username: str = DEMO_USERNAME):
    account = make_account(workspace, username=username)
    member = Membership.all_workspaces.select_related("user").get(workspace=workspace)
    client.force_login(member.user)
    return account


def test_the_help_is_a_table_not_markdown(client: Client, workspace, make_account, media_root) -> None:
    _logged_in(client, workspace, make_account)
    page = client.get(reverse("post_import")).content.decode()
    help_part = page[page.index('data-testid="import-help"') :]
    assert "| --- |" not in page and "``" not in page
    for column in IMPORT_COLUMNS:
        assert f"<code>{column.name}</code>" in help_part


def test_the_example_imports_as_it_is_on_the_demo_and_a_confirmation_follows(
    client: Client, workspace, make_account, media_root
) -> None:
    account = _logged_in(client, workspace, make_account)
    page = client.get(reverse("post_import")).content.decode()
    found = re.search(r'<pre class="small" data-testid="import-example">(.*?)</pre>', page, re.S)
    assert found is not None
    example = html.unescape(found[1])
    assert example.splitlines()[1].startswith(f"{DEMO_USERNAME},image,")
    files = [
        as_file(jpeg(name="croissant.jpg")),
        as_file(jpeg(name="bread.jpg")),
        as_file(jpeg(name="cake.jpg")),
        as_file(mp4(name="oven.mp4")),
    ]
    response = client.post(reverse("post_import"), {"csv_file": as_file_csv(example), "media_files": files})
    assert response.status_code == 302 and response["Location"] == reverse("post_import")
    posts = list(ScheduledPost.all_workspaces.filter(account=account).order_by("pk"))
    assert [post.kind for post in posts] == ["image", "carousel", "reel"]
    assert [post.state for post in posts] == [PostState.SCHEDULED, PostState.SCHEDULED, PostState.DRAFT]

    confirmation = client.get(reverse("post_import")).content.decode()
    summary = " ".join(
        re.sub(r"<[^>]+>", "", confirmation[confirmation.index('data-testid="import-summary"') :]).split()
    )
    assert summary.startswith('data-testid="import-summary">3 created: 2 scheduled, 1 draft; 0 rejected.')
    assert all(reverse("post_detail", args=[post.pk]) in confirmation for post in posts)
    # Shown once: a reload shows the form again, and imports nothing more.
    assert 'data-testid="import-result"' not in client.get(reverse("post_import")).content.decode()
    assert ScheduledPost.all_workspaces.count() == 3


def test_a_refused_file_says_how_many_lines_were_rejected_and_why(
    client: Client, workspace, make_account, media_root
) -> None:
    _logged_in(client, workspace, make_account)
    bad = "account,kind,scheduled_at,media\nnobody,image,,a.jpg\nnobody,image,,b.jpg\n"
    page = client.post(reverse("post_import"), {"csv_file": as_file_csv(bad)}).content.decode()
    assert "1 line rejected" not in page and "2 lines rejected" in page
    assert "Line 2: no account “nobody” in this workspace" in page
    assert not ScheduledPost.all_workspaces.exists()
