"""The web app: composer with uploads, queue, post page, calendar with moves, CSV import, private media."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, Membership
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from publishing.models import PostState, ScheduledPost
from publishing.services import post_create
from publishing.tests.conftest import jpeg, mp4


def as_file(upload) -> SimpleUploadedFile:
    upload.stream.seek(0)
    return SimpleUploadedFile(upload.name, upload.stream.read())


@pytest.fixture
def member(client: Client, workspace, make_account, media_root):
    owner = Membership.all_workspaces.get(workspace=workspace).user
    client.force_login(owner)
    account = make_account(workspace, time_zone="Europe/Paris")
    return {"account": account, "workspace": workspace}


def test_compose_a_carousel_with_several_files_schedules_it(client: Client, member) -> None:
    account = member["account"]
    response = client.post(
        reverse("post_compose"),
        {
            "account": account.pk,
            "kind": "carousel",
            "caption": "Our week #bakery",
            "first_comment": "Link in bio",
            "user_tags": "",
            "collaborators": "friend_one, friend_two",
            "scheduled_at": "2030-05-04T09:30",
            "media_files": [
                as_file(jpeg(name="one.jpg")),
                as_file(jpeg(1080, 1350, "two.jpg")),
                as_file(mp4(1080, 1080, 5)),
            ],
        },
    )
    post = ScheduledPost.all_workspaces.get()
    assert response.status_code == 302 and response["Location"] == reverse("post_detail", args=[post.pk])
    assert post.state == PostState.SCHEDULED and post.collaborators == ["friend_one", "friend_two"]
    assert post.scheduled_at == datetime(2030, 5, 4, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    assert [item.original_name for item in post.media.all()] == ["one.jpg", "two.jpg", "clip.mp4"]
    page = client.get(reverse("post_detail", args=[post.pk])).content.decode()
    assert "Scheduled for" in page and "clip.mp4" in page
    # The stored file is private: the member sees it, no one else (Meta gets a signed URL, test_media.py).
    item = post.media.get(order=0)
    assert client.get(reverse("publishing_media", args=[item.pk])).status_code == 200
    assert Client().get(reverse("publishing_media", args=[item.pk])).status_code == 302


def test_compose_shows_every_limit_broken_and_saves_nothing(client: Client, member) -> None:
    response = client.post(
        reverse("post_compose"),
        {
            "account": member["account"].pk,
            "kind": "image",
            "caption": "#a " * 31,
            "media_files": [as_file(jpeg(1080, 1920))],
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "31 hashtags; Instagram allows at most 30" in page
    assert "aspect ratio between 4:5 and 1.91:1" in page
    assert not ScheduledPost.all_workspaces.exists()


def test_queue_lists_by_state_and_flags_times_outside_active_hours(client: Client, member, make_account) -> None:
    warming = make_account(member["workspace"], state=AccountState.WARMUP_DAY_1, time_zone="UTC")
    late = timezone.now().replace(hour=22, minute=0) + timedelta(days=1)
    post_create(account=warming, kind="image", caption="late one", uploads=[jpeg()], scheduled_at=late)
    post_create(account=member["account"], kind="image", caption="a draft", uploads=[jpeg()])
    page = client.get(reverse("post_list")).content.decode()
    assert "late one" in page and "a draft" in page
    assert "outside the account&#x27;s active hours (08:00–10:00 UTC)" in page
    drafts = client.get(reverse("post_list"), {"state": "draft"}).content.decode()
    assert "a draft" in drafts and "late one" not in drafts


def test_warmup_phase_without_publishing_defers_with_the_reason(client: Client, member, make_account) -> None:
    """The warm-up gate holds the post until day 7 and the post's page says why."""
    warming = make_account(member["workspace"], state=AccountState.WARMUP_DAY_3)
    post = post_create(account=warming, kind="image", caption="x", uploads=[jpeg()], scheduled_at=timezone.now())
    dispatch_once(worker_id="test")
    post.refresh_from_db()
    assert post.state == PostState.SCHEDULED
    assert not post.container_id
    action = Action.all_workspaces.get(source_kind="post", source_id=str(post.pk))
    assert action.state == ActionState.PLANNED
    assert "publishing and every other action start on day 7" in action.last_reason
    page = client.get(reverse("post_detail", args=[post.pk])).content.decode()
    assert "start on day 7" in page


def test_calendar_month_and_week_show_posts_and_a_move_keeps_the_local_time(client: Client, member) -> None:
    account = member["account"]
    when = datetime(2030, 5, 4, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    post = post_create(account=account, kind="image", caption="move me", uploads=[jpeg()], scheduled_at=when)
    month = client.get(reverse("post_calendar"), {"date": "2030-05-10"}).content.decode()
    assert f'data-testid="cal-post-{post.pk}"' in month and "May 2030" in month
    week = client.get(reverse("post_calendar"), {"view": "week", "date": "2030-05-04"}).content.decode()
    assert f'data-testid="cal-post-{post.pk}"' in week
    response = client.post(
        reverse("post_move", args=[post.pk]), json.dumps({"date": "2030-05-07"}), content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["ok"]
    post.refresh_from_db()
    assert post.scheduled_at == datetime(2030, 5, 7, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))
    planned = Action.all_workspaces.get(source_id=str(post.pk), state=ActionState.PLANNED)
    assert planned.due_at == post.scheduled_at
    bad = client.post(
        reverse("post_move", args=[post.pk]), json.dumps({"date": "soon"}), content_type="application/json"
    )
    assert bad.status_code == 400


def test_a_published_post_cannot_be_moved(client: Client, member) -> None:
    post = post_create(account=member["account"], kind="image", caption="x", uploads=[jpeg()])
    ScheduledPost.all_workspaces.filter(pk=post.pk).update(
        state=PostState.PUBLISHED, media_id="1", scheduled_at=timezone.now()
    )
    response = client.post(
        reverse("post_move", args=[post.pk]),
        json.dumps({"date": date.today().isoformat()}),
        content_type="application/json",
    )
    assert response.status_code == 409 and "no longer be moved" in response.json()["error"]


def test_csv_import_all_or_nothing_with_errors_per_row(client: Client, member) -> None:
    username = member["account"].username
    good = f"account,kind,scheduled_at,media,caption\n{username},image,2030-06-01 10:00,a.jpg,Hello\n"
    bad = good + f"{username},carousel,2030-06-02 10:00,a.jpg,One file\nnobody,image,,a.jpg,x\n"
    files = lambda: [as_file(jpeg(name="a.jpg"))]  # noqa: E731
    response = client.post(
        reverse("post_import"), {"csv_file": SimpleUploadedFile("posts.csv", bad.encode()), "media_files": files()}
    )
    page = response.content.decode()
    assert "Line 3: A carousel has 2 to 10 images or videos (this one has 1)" in page
    assert "Line 4: no account “nobody” in this workspace" in page
    assert not ScheduledPost.all_workspaces.exists()
    response = client.post(
        reverse("post_import"), {"csv_file": SimpleUploadedFile("posts.csv", good.encode()), "media_files": files()}
    )
    assert response.status_code == 302
    post = ScheduledPost.all_workspaces.get()
    assert post.state == PostState.SCHEDULED and post.caption == "Hello"
    assert post.scheduled_at == datetime(2030, 6, 1, 10, 0, tzinfo=ZoneInfo("Europe/Paris"))


def test_post_page_shows_history_with_gate_decisions(client: Client, member) -> None:
    post = post_create(
        account=member["account"], kind="image", caption="x", uploads=[jpeg()], scheduled_at=timezone.now()
    )
    from safety.services import kill_switch_set

    kill_switch_set(workspace_id=member["workspace"].pk, stopped=True, reason="holiday", actor=None)
    dispatch_once(worker_id="test")
    page = client.get(reverse("post_detail", args=[post.pk])).content.decode()
    assert "Gate: Deferred" in page and "holiday" in page


def test_queue_and_calendar_queries_do_not_grow_with_posts(client: Client, member) -> None:
    account = member["account"]
    when = datetime(2030, 5, 4, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))

    def counts() -> tuple[int, int]:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queue:
            assert client.get(reverse("post_list")).status_code == 200
        with CaptureQueriesContext(connection) as month:
            assert client.get(reverse("post_calendar"), {"date": "2030-05-01"}).status_code == 200
        return len(queue), len(month)

    post_create(account=account, kind="image", caption="one", uploads=[jpeg()], scheduled_at=when)
    counts()  # warm caches (session, content types)
    few = counts()
    for index in range(8):
        post_create(
            account=account,
            kind="image",
            caption=f"more {index}",
            uploads=[jpeg()],
            scheduled_at=when + timedelta(days=index),
        )
    assert counts() == few
