"""Editing a post before it publishes: text, options and files, all or nothing, never under a running step."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from accounts.services import account_access_token
from actions.models import Action, ActionState
from instagram.client import InstagramClient
from publishing import pipeline
from publishing.models import PostEvent, PostState, ScheduledPost
from publishing.pipeline import publish_run
from publishing.services import PostInvalid, PostNotEditable, post_create, post_edit
from publishing.tests.conftest import jpeg, mp4, run_until_settled
from publishing.tests.test_views import as_file
from sandbox.models import SandboxContainer, SandboxMedia


@pytest.fixture
def logged_in(client: Client, workspace, make_account, media_root):
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return make_account(workspace, time_zone="Europe/Paris")


def test_a_member_edits_a_draft_and_replaces_its_files(
    client: Client, logged_in, django_capture_on_commit_callbacks
) -> None:
    post = post_create(
        account=logged_in, kind="carousel", caption="Old #bread", uploads=[jpeg(name="a.jpg"), jpeg(name="b.jpg")]
    )
    old_files = list(post.media.values_list("file", flat=True))
    page = client.get(reverse("post_edit", args=[post.pk])).content.decode()
    assert "Old #bread" in page and "a.jpg" in page and "Replace the photos and videos" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("post_edit", args=[post.pk]),
            {
                "kind": "reel",
                "caption": "New #reel",
                "first_comment": "See you",
                "user_tags": "",
                "collaborators": "friend_one",
                "media_files": [as_file(mp4(1080, 1920, 12, "new.mp4"))],
            },
        )
    assert response.status_code == 302 and response["Location"] == reverse("post_detail", args=[post.pk])
    post.refresh_from_db()
    assert (post.kind, post.caption, post.first_comment, post.collaborators) == (
        "reel",
        "New #reel",
        "See you",
        ["friend_one"],
    )
    assert [item.original_name for item in post.media.all()] == ["new.mp4"]
    assert not any(default_storage.exists(name) for name in old_files)  # the replaced files are gone
    edited = post.events.filter(kind=PostEvent.Kind.EDITED).last()
    assert edited is not None
    assert edited.message == "Edited: kind, caption, first comment, collaborators, media (1 file)."
    assert post.state == PostState.DRAFT


def test_an_edit_that_breaks_a_limit_shows_why_and_changes_nothing(client: Client, logged_in) -> None:
    post = post_create(account=logged_in, kind="image", caption="Fine", uploads=[jpeg()])
    files = list(post.media.values_list("file", flat=True))
    response = client.post(
        reverse("post_edit", args=[post.pk]),
        {"kind": "image", "caption": "#a " * 31, "media_files": [as_file(jpeg(1080, 1920, "tall.jpg"))]},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "31 hashtags; Instagram allows at most 30" in page and "aspect ratio between 4:5 and 1.91:1" in page
    post.refresh_from_db()
    assert post.caption == "Fine" and list(post.media.values_list("file", flat=True)) == files
    assert all(default_storage.exists(name) for name in files)
    # Without new files the stored ones are checked against the new kind: a carousel needs 2 to 10.
    with pytest.raises(PostInvalid) as invalid:
        post_edit(post=post, kind="carousel", caption="x")
    assert any("carousel" in error.lower() for error in invalid.value.errors)
    with pytest.raises(PostInvalid, match="Stories do not take a caption"):
        post_edit(post=post, kind="story", caption="no captions on stories")


def test_a_scheduled_post_keeps_its_time_and_its_step_is_planned_again(logged_in) -> None:
    when = timezone.now() + timedelta(days=1)
    post = post_create(account=logged_in, kind="image", caption="a", uploads=[jpeg()], scheduled_at=when)
    post = post_edit(post=post, kind="image", caption="b")
    assert (post.state, post.scheduled_at, post.caption) == (PostState.SCHEDULED, when, "b")
    steps = Action.all_workspaces.filter(source_kind="post", source_id=str(post.pk))
    assert [step.state for step in steps.order_by("pk")] == [ActionState.DENIED, ActionState.PLANNED]
    planned = steps.get(state=ActionState.PLANNED)
    assert planned.due_at == when and planned.payload["schedule_version"] == post.schedule_version


def test_a_failed_post_goes_back_to_draft_with_fresh_containers(logged_in) -> None:
    post = post_create(account=logged_in, kind="image", caption="a", uploads=[jpeg()])
    ScheduledPost.all_workspaces.filter(pk=post.pk).update(
        state=PostState.FAILED,
        state_reason="container ERROR",
        container_id="c1",
        generation=3,
        scheduled_at=timezone.now(),
    )
    post = post_edit(post=post, kind="image", caption="fixed")
    assert (post.state, post.state_reason, post.container_id, post.generation) == (PostState.DRAFT, "", "", 4)
    assert post.scheduled_at is None


@pytest.mark.parametrize("state", [PostState.PUBLISHING, PostState.PUBLISHED])
def test_a_post_publishing_or_published_cannot_change(client: Client, logged_in, state: str) -> None:
    post = post_create(account=logged_in, kind="image", caption="a", uploads=[jpeg()])
    ScheduledPost.all_workspaces.filter(pk=post.pk).update(state=state, media_id="1", scheduled_at=timezone.now())
    response = client.get(reverse("post_edit", args=[post.pk]), follow=True)
    assert "it can no longer change" in response.content.decode()
    with pytest.raises(PostNotEditable):
        post_edit(post=post, kind="image", caption="b")
    post.refresh_from_db()
    assert post.caption == "a"


def test_a_step_that_read_the_post_before_an_edit_sends_nothing(publisher, monkeypatch) -> None:
    """The edit commits between the step reading the post and reserving the quota: no container is made."""
    post = post_create(account=publisher, kind="image", caption="old", uploads=[jpeg()], scheduled_at=timezone.now())
    step = Action.all_workspaces.get(source_kind="post", source_id=str(post.pk), state=ActionState.PLANNED)
    read = pipeline._post_for(step)  # what the running step holds
    assert read is not None and read.caption == "old"
    post_edit(post=post, kind="image", caption="new")
    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "_post_for", lambda action: read)
        result = publish_run(step, InstagramClient(access_token=account_access_token(account=publisher)))
    assert "edited, rescheduled or stopped" in result["skipped"]
    assert not SandboxContainer.objects.exists()
    # The step planned for the edited post publishes the new caption, once.
    Action.all_workspaces.filter(pk=step.pk).update(state=ActionState.DENIED)
    run_until_settled()
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED, post.state_reason
    assert list(SandboxMedia.objects.filter(via_api=True).values_list("caption", flat=True)) == ["new"]
