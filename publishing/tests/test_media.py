"""Uploaded media is private: random names, members of its workspace only, Meta through a signed URL that expires."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership
from publishing.models import MediaType, PostMedia, ScheduledPost, media_upload_to
from publishing.services import MEDIA_URL_SALT, media_token_resolve, media_url_sign, post_create
from publishing.tests.conftest import jpeg, mp4, run_until_settled
from sandbox.models import SandboxContainer
from sandbox.services import sandbox_settings_update

RANDOM_NAME = re.compile(r"^publishing/\d+/[A-Za-z0-9_-]{32}\.(jpg|mp4)$")


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _stored_bytes(item: PostMedia) -> bytes:
    with default_storage.open(item.file.name, "rb") as handle:
        return handle.read()


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def draft(workspace, make_account, media_root) -> PostMedia:
    post = post_create(account=make_account(workspace), kind="image", caption="secret launch", uploads=[jpeg()])
    return post.media.get()


@pytest.fixture
def member_client(workspace) -> Client:
    client = Client()
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


def test_stored_names_are_random_and_keep_nothing_of_the_uploaders_name(workspace, make_account, media_root) -> None:
    account = make_account(workspace)
    first = post_create(account=account, kind="image", uploads=[jpeg(name="p.jpg")]).media.get()
    second = post_create(account=account, kind="image", uploads=[jpeg(name="p.jpg")]).media.get()
    reel = post_create(account=account, kind="reel", uploads=[mp4(name="My Holiday.MOV")]).media.get()

    names = [first.file.name, second.file.name, reel.file.name]
    assert len(set(names)) == 3
    assert all(RANDOM_NAME.match(name) for name in names), names
    # The stored name is 32 random characters: it may end in "p" by chance, so compare the whole stem.
    assert not any(PurePosixPath(name).stem in {"p", "My Holiday"} or "Holiday" in name for name in names)
    # The extension is the format read, not the one the uploader typed.
    assert reel.file.name.endswith(".mp4") and reel.original_name == "My Holiday.MOV"
    assert first.original_name == "p.jpg" and _stored_bytes(first)[:2] == b"\xff\xd8"


def test_upload_to_keeps_only_an_allowed_extension(workspace) -> None:
    item = PostMedia(workspace=workspace)
    assert media_upload_to(item, "../../evil.html").endswith(".bin")
    assert media_upload_to(item, "x.php.jpg").startswith(f"publishing/{workspace.pk}/")
    assert ".." not in media_upload_to(item, "../../x.mp4") and media_upload_to(item, "a.MP4").endswith(".mp4")


def test_a_member_sees_the_file_inline_and_privately(draft: PostMedia, member_client: Client) -> None:
    response = member_client.get(reverse("publishing_media", args=[draft.pk]))
    assert response.status_code == 200
    assert _body(response) == _stored_bytes(draft)
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Cache-Control"].startswith("private")
    # The post's page links there, not to a storage path.
    page = member_client.get(reverse("post_detail", args=[draft.post_id])).content.decode()
    assert reverse("publishing_media", args=[draft.pk]) in page and draft.file.name not in page


def test_anonymous_and_other_workspaces_never_get_the_bytes(
    draft: PostMedia, make_workspace, make_user, client: Client
) -> None:
    url = reverse("publishing_media", args=[draft.pk])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("account_login"))

    stranger = make_user()
    make_workspace(name="Rival", owner=stranger)
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    # Not found and someone else's look the same.
    assert client.get(reverse("publishing_media", args=[draft.pk + 1000])).status_code == 404


def test_the_old_public_media_path_is_not_served(draft: PostMedia, member_client: Client, client: Client) -> None:
    # Before: /media/<storage name> served every workspace's files to anyone.
    legacy_name = default_storage.save("publishing/2026/12/p.jpg", ContentFile(_stored_bytes(draft)))
    for path in (f"/media/{draft.file.name}", f"/media/{legacy_name}", "/media/publishing/2026/12/p.jpg"):
        assert client.get(path).status_code == 404
        assert member_client.get(path).status_code == 404


def test_files_stored_under_old_names_are_still_served_to_members_and_meta(
    draft: PostMedia, member_client: Client, client: Client
) -> None:
    legacy_name = default_storage.save("publishing/2026/12/p.jpg", ContentFile(_stored_bytes(draft)))
    legacy = PostMedia.all_workspaces.create(
        workspace_id=draft.workspace_id, post_id=draft.post_id, file=legacy_name, media_type=MediaType.IMAGE, order=1
    )
    assert member_client.get(reverse("publishing_media", args=[legacy.pk])).status_code == 200
    signed = client.get(_path(media_url_sign(item=legacy)))
    assert signed.status_code == 200 and _body(signed) == _stored_bytes(draft)


def test_a_file_missing_from_storage_is_a_404(draft: PostMedia, member_client: Client, client: Client) -> None:
    default_storage.delete(draft.file.name)
    assert member_client.get(reverse("publishing_media", args=[draft.pk])).status_code == 404
    assert client.get(_path(media_url_sign(item=draft))).status_code == 404


def test_the_signed_url_serves_the_file_without_login(draft: PostMedia, client: Client, settings) -> None:
    url = media_url_sign(item=draft)
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/media/signed/") and url.endswith("/media.jpg")
    assert draft.file.name not in url
    response = client.get(_path(url))
    assert response.status_code == 200 and _body(response) == _stored_bytes(draft)
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]


def test_the_signed_url_expires(draft: PostMedia, client: Client, settings) -> None:
    settings.MEDIA_SIGNED_URL_SECONDS = 600
    issued_long_ago = media_url_sign(item=draft, now=timezone.now() - timedelta(seconds=601))
    assert client.get(_path(issued_long_ago)).status_code == 404
    fresh = media_url_sign(item=draft)
    assert client.get(_path(fresh)).status_code == 200
    token = _path(fresh).split("/")[3]
    assert media_token_resolve(token=token, now=timezone.now() + timedelta(seconds=599)) == draft
    assert media_token_resolve(token=token, now=timezone.now() + timedelta(seconds=601)) is None


def test_a_tampered_or_foreign_token_opens_nothing(
    draft: PostMedia, workspace, make_account, client: Client, media_root
) -> None:
    other = post_create(account=make_account(workspace), kind="image", uploads=[jpeg()]).media.get()
    path = _path(media_url_sign(item=draft))
    _, _, _, token, filename = path.split("/")
    payload, signature = token.rsplit(":", 1)
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    # Another item's id under the same signature, an altered signature, a token minted without the salt.
    forged_payload = signing.b64_encode(signing.JSONSerializer().dumps([other.pk, other.file.name, 2**40])).decode()
    for forged in (
        f"{forged_payload}:{signature}",
        f"{payload}:{flipped}",
        signing.Signer().sign_object([other.pk, other.file.name, 2**40]),
        signing.dumps([other.pk, other.file.name, 2**40]),
        "not-a-token",
    ):
        assert client.get(f"/media/signed/{forged}/{filename}").status_code == 404, forged
    # The name at the end is cosmetic; the token alone decides.
    assert client.get(f"/media/signed/{token}/other.png").status_code == 200


def test_a_signed_url_stops_working_once_its_file_is_replaced(draft: PostMedia, client: Client) -> None:
    path = _path(media_url_sign(item=draft))
    PostMedia.all_workspaces.filter(pk=draft.pk).delete()
    assert client.get(path).status_code == 404
    assert media_token_resolve(token=signing.Signer(salt=MEDIA_URL_SALT).sign_object([draft.pk, "", 2**40])) is None


class PresigningStorage(FileSystemStorage):
    """Stands in for django-storages' S3Storage: signs its URLs (``querystring_auth``) and takes ``expire``."""

    querystring_auth = True

    def url(self, name: str | None, expire: int | None = None) -> str:
        return f"https://bucket.example.com/{name}?X-Amz-Expires={expire}&X-Amz-Signature=abc"


def test_with_a_presigning_storage_meta_and_members_get_its_expiring_urls(
    draft: PostMedia, member_client: Client, settings
) -> None:
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.PresigningStorage"}}
    settings.MEDIA_SIGNED_URL_SECONDS = 1800
    assert media_url_sign(item=draft) == (
        f"https://bucket.example.com/{draft.file.name}?X-Amz-Expires=1800&X-Amz-Signature=abc"
    )
    response = member_client.get(reverse("publishing_media", args=[draft.pk]))
    assert response.status_code == 302 and "X-Amz-Expires=300" in response["Location"]


@pytest.mark.parametrize(
    ("kind", "uploads"),
    [
        ("image", lambda: [jpeg(1080, 1350, "p.jpg")]),
        ("carousel", lambda: [jpeg(1080, 1080, "a.jpg"), mp4(1080, 1080, 8, "b.mp4")]),
    ],
)
def test_meta_gets_signed_urls_that_serve_the_files(publisher, kind, uploads, settings) -> None:
    sandbox_settings_update(container_delay_seconds=0.2)
    post = post_create(account=publisher, kind=kind, caption="Fresh", uploads=uploads(), scheduled_at=timezone.now())
    run_until_settled()
    post.refresh_from_db()
    assert post.media_id, post.state_reason

    containers = SandboxContainer.objects.exclude(media_type="CAROUSEL").order_by("created_at", "id")
    items = list(ScheduledPost.all_workspaces.get(pk=post.pk).media.all())
    assert len(containers) == len(items)
    anonymous = Client()
    for container, item in zip(containers, items, strict=True):
        assert container.media_url.startswith(f"{settings.PUBLIC_BASE_URL}/media/signed/")
        assert item.file.name not in container.media_url and "p.jpg" not in container.media_url
        fetched = anonymous.get(_path(container.media_url))
        assert fetched.status_code == 200 and _body(fetched) == _stored_bytes(item)
