"""Each kind of post published end to end against the sandbox over HTTP, and what goes wrong on the way."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from actions.models import Action, ActionState, ActionType
from publishing.models import PostEvent, PostState, ScheduledPost
from publishing.services import post_create
from publishing.tests.conftest import jpeg, mp4, run_until_settled
from safety.services import policy_override_set
from sandbox.models import SandboxCall, SandboxComment, SandboxContainer, SandboxMedia
from sandbox.services import sandbox_settings_update


def _publish_calls() -> int:
    return SandboxCall.objects.filter(method="POST", path__endswith="/media_publish", status=200).count()


@pytest.mark.parametrize(
    ("kind", "uploads", "media_type", "product"),
    [
        ("image", lambda: [jpeg(1080, 1350)], "IMAGE", "FEED"),
        (
            "carousel",
            lambda: [jpeg(1080, 1080, "a.jpg"), mp4(1080, 1080, 8, "b.mp4"), jpeg(1080, 566, "c.jpg")],
            "CAROUSEL_ALBUM",
            "FEED",
        ),
        ("reel", lambda: [mp4(1080, 1920, 20)], "VIDEO", "REELS"),
        ("story", lambda: [jpeg(1080, 1920)], "IMAGE", "STORY"),
    ],
)
def test_each_kind_is_published_once_with_permalink_and_first_comment(
    publisher, kind, uploads, media_type, product
) -> None:
    sandbox_settings_update(container_delay_seconds=0.5)
    post = post_create(
        account=publisher,
        kind=kind,
        caption="" if kind == "story" else f"Fresh bread #{kind} @friend",
        first_comment="" if kind == "story" else "More at the shop #bread",
        uploads=uploads(),
        scheduled_at=timezone.now(),
    )
    run_until_settled()

    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED, post.state_reason
    media = SandboxMedia.objects.get(media_id=post.media_id)
    assert (media.media_type, media.media_product_type) == (media_type, product)
    assert post.permalink.endswith(f"/p/{post.media_id}/")
    assert _publish_calls() == 1
    if kind == "carousel":
        parent = SandboxContainer.objects.get(container_id=post.container_id)
        assert len(parent.children) == 3 == len(post.children_container_ids)
    if kind != "story":
        assert SandboxComment.objects.filter(media=media, text="More at the shop #bread", via_api=True).count() == 1
        assert post.first_comment_id
    kinds = list(post.events.values_list("kind", flat=True))
    assert kinds[:2] == [PostEvent.Kind.EDITED, PostEvent.Kind.SCHEDULED]
    assert PostEvent.Kind.CONTAINER in kinds and PostEvent.Kind.PUBLISHED in kinds


def test_container_error_fails_the_post_with_the_reason_and_nothing_is_published(publisher) -> None:
    sandbox_settings_update(container_error_ratio=1.0)
    post = post_create(account=publisher, kind="image", caption="x", uploads=[jpeg()], scheduled_at=timezone.now())
    run_until_settled()
    post.refresh_from_db()
    assert post.state == PostState.FAILED
    assert "could not process the media" in post.state_reason
    assert _publish_calls() == 0


def test_an_expired_container_is_prepared_again_never_published(publisher) -> None:
    sandbox_settings_update(container_delay_seconds=3600)
    post = post_create(account=publisher, kind="image", caption="late", uploads=[jpeg()], scheduled_at=timezone.now())
    # Run the prepare step and the first check; the container is still processing.
    from actions.dispatcher.loop import dispatch_once

    dispatch_once(worker_id="test")
    dispatch_once(worker_id="test")
    post.refresh_from_db()
    first = post.container_id
    assert post.state == PostState.PUBLISHING and first
    # A day passes, on both sides.
    old = timezone.now() - timedelta(hours=25)
    SandboxContainer.objects.filter(container_id=first).update(created_at=old)
    ScheduledPost.all_workspaces.filter(pk=post.pk).update(container_created_at=old)
    sandbox_settings_update(container_delay_seconds=0)
    run_until_settled(now_shift=timedelta(hours=2))
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED
    assert post.container_id != first and post.generation == 1
    assert SandboxContainer.objects.get(container_id=first).published_media_id is None
    assert _publish_calls() == 1


def test_quota_reached_defers_with_the_reason_before_any_container(publisher) -> None:
    sandbox_settings_update(publishing_quota_total=1)
    first = post_create(account=publisher, kind="image", caption="one", uploads=[jpeg()], scheduled_at=timezone.now())
    second = post_create(account=publisher, kind="image", caption="two", uploads=[jpeg()], scheduled_at=timezone.now())
    from actions.dispatcher.loop import dispatch_once

    for _ in range(10):
        dispatch_once(worker_id="test")
    first.refresh_from_db()
    second.refresh_from_db()
    assert {first.state, second.state} == {PostState.PUBLISHED, PostState.SCHEDULED}
    waiting = second if second.state == PostState.SCHEDULED else first
    assert "of 1 posts used in the last 24 hours" in waiting.state_reason
    assert waiting.events.filter(kind=PostEvent.Kind.DEFERRED).exists()
    assert not waiting.container_id
    assert _publish_calls() == 1


def test_unknown_outcome_is_reconciled_from_recent_media_not_resent(publisher) -> None:
    post = post_create(
        account=publisher, kind="image", caption="once only", uploads=[jpeg()], scheduled_at=timezone.now()
    )
    from actions.dispatcher.loop import dispatch_once
    from actions.dispatcher.recovery import actions_reconcile_unknown
    from publishing import pipeline

    real = pipeline._publish

    def publish_then_lose_the_answer(post_, action, client):  # the call reaches Instagram, the answer is lost
        from instagram.errors import OutcomeUnknownError

        client.media_publish(creation_id=post_.container_id)
        raise OutcomeUnknownError("connection reset after sending")

    pipeline.STEPS["publish"] = publish_then_lose_the_answer
    try:
        for _ in range(4):
            dispatch_once(worker_id="test")
    finally:
        pipeline.STEPS["publish"] = real
    publish_step = Action.all_workspaces.get(action_type=ActionType.PUBLISH, payload__step="publish")
    assert publish_step.state == ActionState.UNKNOWN
    actions_reconcile_unknown(worker_id="test", now=timezone.now())
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED and post.media_id
    assert post.events.filter(kind=PostEvent.Kind.RECONCILED).exists()
    assert _publish_calls() == 1


def test_rescheduling_moves_the_planned_step(publisher) -> None:
    from publishing.services import post_schedule

    later = timezone.now() + timedelta(days=2)
    post = post_create(
        account=publisher, kind="image", caption="a", uploads=[jpeg()], scheduled_at=timezone.now() + timedelta(days=1)
    )
    post_schedule(post=post, scheduled_at=later)
    planned = Action.all_workspaces.filter(source_kind="post", source_id=str(post.pk), state=ActionState.PLANNED)
    assert [a.due_at for a in planned] == [later]
    assert Action.all_workspaces.filter(source_id=str(post.pk), state=ActionState.DENIED).count() == 1


def test_options_reach_the_containers_where_the_api_takes_them(publisher) -> None:
    post = post_create(
        account=publisher,
        kind="carousel",
        caption="With friends",
        alt_text="Two loaves on a table",
        user_tags=[{"username": "baker_jo", "x": 0.5, "y": 0.4}],
        collaborators=["partner_shop"],
        location_id="110843418940484",
        uploads=[mp4(1080, 1080, 5, "v.mp4"), jpeg(name="a.jpg"), jpeg(name="b.jpg")],
        scheduled_at=timezone.now(),
    )
    run_until_settled()
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED
    parent = SandboxContainer.objects.get(container_id=post.container_id)
    assert (
        json.loads(parent.extra["collaborators"]) == ["partner_shop"]
        and parent.extra["location_id"] == "110843418940484"
    )
    assert "user_tags" not in parent.extra
    video, first, second = (SandboxContainer.objects.get(container_id=cid) for cid in parent.children)
    assert "user_tags" not in video.extra and "alt_text" not in video.extra
    assert json.loads(first.extra["user_tags"]) == [{"username": "baker_jo", "x": 0.5, "y": 0.4}]
    assert first.extra["alt_text"] == second.extra["alt_text"] == "Two loaves on a table"
    assert "user_tags" not in second.extra


def test_unknown_outcome_that_did_not_happen_is_published_once_after_reconciling(publisher) -> None:
    from actions.dispatcher.loop import dispatch_once
    from actions.dispatcher.recovery import actions_reconcile_unknown
    from instagram.errors import OutcomeUnknownError
    from publishing import pipeline

    post = post_create(
        account=publisher, kind="image", caption="lost request", uploads=[jpeg()], scheduled_at=timezone.now()
    )
    real = pipeline._publish
    # The safety engine backs the account off after a failure (30 s by default); this test does not wait it out.
    policy_override_set(workspace_id=publisher.workspace_id, values={"backoff.base_seconds": 0}, actor=None)

    def lose_the_request(post_, action, client):  # the connection broke before Instagram got it
        raise OutcomeUnknownError("connection reset")

    pipeline.STEPS["publish"] = lose_the_request
    try:
        for _ in range(4):
            dispatch_once(worker_id="test")
    finally:
        pipeline.STEPS["publish"] = real
    assert Action.all_workspaces.get(payload__step="publish").state == ActionState.UNKNOWN
    actions_reconcile_unknown(worker_id="test", now=timezone.now())
    assert post.events.filter(message__contains="Not published (container FINISHED)").exists()
    run_until_settled()
    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED
    assert _publish_calls() == 1
