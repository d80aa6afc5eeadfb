"""Content publishing in the sandbox over HTTP: carousels, processing, expiry, stories, comments on own media."""

from __future__ import annotations

from datetime import timedelta

import requests
from django.utils import timezone

from sandbox import services
from sandbox.models import SandboxAccount, SandboxComment, SandboxContainer, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer


def _post(server: SandboxServer, token: SandboxToken, path: str, **data: str) -> requests.Response:
    return requests.post(f"{server.url}/v24.0/{path}", params={"access_token": token.token}, data=data, timeout=5)


def _get(server: SandboxServer, token: SandboxToken, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}/v24.0/{path}", params={"access_token": token.token, **params}, timeout=5)


def test_carousel_needs_2_to_10_item_containers_and_publishes_as_an_album(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    one = _post(sandbox_server, token, "me/media", image_url="https://x.example/1.jpg", is_carousel_item="true").json()
    two = _post(
        sandbox_server,
        token,
        "me/media",
        video_url="https://x.example/2.mp4",
        media_type="VIDEO",
        is_carousel_item="true",
    ).json()
    alone = _post(sandbox_server, token, "me/media", media_type="CAROUSEL", children=one["id"])
    assert alone.status_code == 400 and "between 2 and 10" in alone.json()["error"]["message"]
    not_items = _post(sandbox_server, token, "me/media", image_url="https://x.example/3.jpg").json()
    wrong = _post(sandbox_server, token, "me/media", media_type="CAROUSEL", children=f"{one['id']},{not_items['id']}")
    assert wrong.status_code == 400
    parent = _post(
        sandbox_server, token, "me/media", media_type="CAROUSEL", caption="Album", children=f"{one['id']},{two['id']}"
    ).json()
    media = _post(sandbox_server, token, "me/media_publish", creation_id=parent["id"]).json()
    published = SandboxMedia.objects.get(media_id=media["id"])
    assert (published.media_type, published.caption) == ("CAROUSEL_ALBUM", "Album")


def test_carousel_is_in_progress_while_a_child_is_and_fails_when_one_fails(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    services.sandbox_settings_update(container_delay_seconds=3600)
    child = _post(
        sandbox_server, token, "me/media", image_url="https://x.example/1.jpg", is_carousel_item="true"
    ).json()
    services.sandbox_settings_update(container_delay_seconds=0)
    other = _post(
        sandbox_server, token, "me/media", image_url="https://x.example/2.jpg", is_carousel_item="true"
    ).json()
    parent = _post(
        sandbox_server, token, "me/media", media_type="CAROUSEL", children=f"{child['id']},{other['id']}"
    ).json()
    assert _get(sandbox_server, token, parent["id"], fields="status_code").json()["status_code"] == "IN_PROGRESS"
    SandboxContainer.objects.filter(container_id=child["id"]).update(ready_at=timezone.now(), fails=True)
    assert _get(sandbox_server, token, parent["id"], fields="status_code").json()["status_code"] == "ERROR"


def test_expired_container_is_refused_and_reported(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    container = _post(sandbox_server, token, "me/media", image_url="https://x.example/1.jpg").json()
    SandboxContainer.objects.filter(container_id=container["id"]).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert _get(sandbox_server, token, container["id"], fields="status_code").json()["status_code"] == "EXPIRED"
    refused = _post(sandbox_server, token, "me/media_publish", creation_id=container["id"])
    assert refused.status_code == 400 and refused.json()["error"]["error_subcode"] == 2207020


def test_stories_are_listed_apart_and_the_account_comments_on_its_media(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    story = _post(sandbox_server, token, "me/media", video_url="https://x.example/s.mp4", media_type="STORIES").json()
    media_id = _post(sandbox_server, token, "me/media_publish", creation_id=story["id"]).json()["id"]
    listed = [item["id"] for item in _get(sandbox_server, token, "me/media").json()["data"]]
    stories = _get(sandbox_server, token, "me/stories", fields="id,media_type,media_product_type").json()["data"]
    assert media_id not in listed
    assert stories == [{"id": media_id, "media_type": "VIDEO", "media_product_type": "STORY"}]
    post = account.media.exclude(media_product_type="STORY").first()
    assert post is not None
    created = _post(sandbox_server, token, f"{post.media_id}/comments", message="First!").json()
    comment = SandboxComment.objects.get(comment_id=created["id"])
    assert (comment.from_id, comment.text, comment.via_api) == (account.user_id, "First!", True)


def test_container_create_and_publish_answer_the_documented_shapes(
    sandbox_server: SandboxServer, token: SandboxToken, account: SandboxAccount
) -> None:
    from sandbox.tests.test_conformance import assert_same_shape, documented

    created = _post(sandbox_server, token, "me/media", image_url="https://x.example/1.jpg", caption="Hi").json()
    assert_same_shape(created, documented("media_container_create_response.json"))
    published = _post(sandbox_server, token, "me/media_publish", creation_id=created["id"]).json()
    assert_same_shape(published, documented("media_publish_response.json"))
