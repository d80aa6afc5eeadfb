"""Post media in an S3-compatible store (django-storages' S3Storage), against moto's S3 server on 127.0.0.1.

The store is real HTTP: moto's server mode in a thread of this process, on a free port of 127.0.0.1 (no
other network). Each test gets its own bucket and the settings a deployment sets from the environment
(instaforge/settings.py: endpoint, region, credentials, addressing style, key prefix, signed-URL lifetime).
Moto does not refuse an expired or forged presigned URL (S3 does): the tests check the signature themselves
(``sigv4_check``), so that the expiry in the URL is the one S3 enforces and cannot be moved.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from moto.server import ThreadedMotoServer

from accounts.models import Membership
from privacy.erasure import account_disconnect, workspace_erase
from publishing.checks import media_credentials_check, media_endpoint_check
from publishing.models import PostMedia, PostState, ScheduledPost
from publishing.services import MEMBER_URL_SECONDS, PostInvalid, media_url_sign, post_create, post_edit
from publishing.tests.conftest import jpeg, mp4, run_until_settled
from sandbox.models import SandboxContainer
from sandbox.services import sandbox_settings_update

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"  # AWS's documented example credentials: moto takes any
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-3"
PREFIX = "instaforge"  # AWS_LOCATION: every key under it
SIGNED_URL_SECONDS = 900
_buckets = itertools.count(1)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, once per module, on a free port of 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    server._server.server_close()  # type: ignore[union-attr]  # stop() leaves the listening socket open


class Bucket:
    """The test's bucket, read with boto3 directly (not through the product's storage)."""

    def __init__(self, endpoint: str, name: str) -> None:
        self.endpoint, self.name = endpoint, name
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )
        self.client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def keys(self) -> list[str]:
        return sorted(item["Key"] for item in self.client.list_objects_v2(Bucket=self.name).get("Contents", []))

    def read(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.name, Key=key)["Body"].read()
        return body


@pytest.fixture
def bucket(s3_endpoint: str, settings, media_root: Path, monkeypatch) -> Bucket:
    """A fresh bucket, and the product configured for it as the environment would (settings.py's names)."""
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)  # 127.0.0.1 directly, never through a proxy
    store = Bucket(s3_endpoint, f"media-{next(_buckets)}")
    settings.AWS_STORAGE_BUCKET_NAME = store.name
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_ACCESS_KEY_ID = ACCESS_KEY
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.AWS_LOCATION = PREFIX
    settings.MEDIA_SIGNED_URL_SECONDS = SIGNED_URL_SECONDS
    settings.AWS_QUERYSTRING_EXPIRE = SIGNED_URL_SECONDS
    # Last: changing STORAGES makes Django build default_storage again, with the settings above.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    return store


def _disk_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _download(url: str) -> bytes:
    """GET ``url`` as Meta's fetcher does: no cookie, no credential but the URL's own."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        body: bytes = response.read()
    return body


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def sigv4_check(url: str, *, secret_key: str) -> dict[str, str]:
    """The URL's query parameters if its Signature V4 query signature is valid for ``secret_key``, else AssertionError.

    Written from AWS's description of presigned URLs (SigV4 query-string authentication: canonical request,
    string to sign, derived signing key), independently of botocore, which made the URL.
    """
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    signature = params.pop("X-Amz-Signature")
    assert params["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and params["X-Amz-SignedHeaders"] == "host"
    canonical_query = "&".join(f"{_encode(name)}={_encode(value)}" for name, value in sorted(params.items()))
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    access_key, scope = params["X-Amz-Credential"].split("/", 1)
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected), "the presigned URL's signature does not verify"
    return {**params, "access_key": access_key}


def _with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.update(changes)
    return urlunsplit(parts._replace(query=urlencode(params, quote_via=quote)))


def _key(item: PostMedia) -> str:
    return f"{PREFIX}/{item.file.name}"


@pytest.fixture
def member_client(workspace) -> Client:
    client = Client()
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


def test_a_members_upload_from_the_compose_page_lands_in_the_bucket_not_on_disk(
    bucket: Bucket, workspace, make_account, member_client: Client, media_root: Path
) -> None:
    account = make_account(workspace)
    photo = jpeg(1080, 1350, "Launch Day.jpg")
    data = photo.stream.getvalue()  # type: ignore[attr-defined]
    response = member_client.post(
        reverse("post_compose"),
        {
            "account": account.pk,
            "kind": "image",
            "caption": "Launch",
            "media_files": [SimpleUploadedFile("Launch Day.jpg", data)],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]

    item = PostMedia.all_workspaces.get(post__account=account)
    assert bucket.keys() == [_key(item)]
    assert item.file.name.startswith(f"publishing/{workspace.pk}/") and "Launch" not in item.file.name
    assert bucket.read(_key(item)) == data
    assert _disk_files(media_root) == []

    # The post's page shows the file; a member's request for it is sent to a short-lived presigned URL.
    page = member_client.get(reverse("post_detail", args=[item.post_id]))
    assert reverse("publishing_media", args=[item.pk]) in page.content.decode()
    shown = member_client.get(reverse("publishing_media", args=[item.pk]))
    assert shown.status_code == 302 and shown["Location"].startswith(f"{bucket.endpoint}/{bucket.name}/{PREFIX}/")
    assert sigv4_check(shown["Location"], secret_key=SECRET_KEY)["X-Amz-Expires"] == str(MEMBER_URL_SECONDS)
    assert _download(shown["Location"]) == data


def test_another_workspace_gets_no_presigned_url(
    bucket: Bucket, workspace, make_account, make_workspace, make_user
) -> None:
    item = post_create(account=make_account(workspace), kind="image", uploads=[jpeg()]).media.get()
    stranger = make_user()
    make_workspace(name="Rival", owner=stranger)
    client = Client()
    client.force_login(stranger)
    response = client.get(reverse("publishing_media", args=[item.pk]))
    assert response.status_code == 404 and bucket.name not in response.get("Location", "")


def test_meta_gets_a_presigned_url_on_the_store_that_serves_the_file_and_expires(
    bucket: Bucket, workspace, make_account
) -> None:
    upload = mp4(1080, 1920, 6)
    data = upload.stream.getvalue()  # type: ignore[attr-defined]
    item = post_create(account=make_account(workspace), kind="reel", uploads=[upload]).media.get()
    issued = datetime.now(UTC)
    url = media_url_sign(item=item)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == bucket.endpoint
    assert parts.path == f"/{bucket.name}/{_key(item)}"
    params = sigv4_check(url, secret_key=SECRET_KEY)
    assert params["access_key"] == ACCESS_KEY and params["X-Amz-Credential"].endswith(f"/{REGION}/s3/aws4_request")
    # Valid MEDIA_SIGNED_URL_SECONDS from now: S3 refuses it once X-Amz-Date + X-Amz-Expires has passed.
    assert params["X-Amz-Expires"] == str(SIGNED_URL_SECONDS)
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((signed_at - issued).total_seconds()) < 5
    # The expiry is part of what is signed: a URL stretched to a week no longer verifies.
    with pytest.raises(AssertionError, match="does not verify"):
        sigv4_check(_with_params(url, **{"X-Amz-Expires": "604800"}), secret_key=SECRET_KEY)
    with pytest.raises(AssertionError, match="does not verify"):
        sigv4_check(url, secret_key=SECRET_KEY[::-1])
    # Meta's fetch: the bytes stored, with no other credential.
    assert _download(url) == data
    # A shorter lifetime asked for explicitly is the one signed.
    assert sigv4_check(media_url_sign(item=item, seconds=60), secret_key=SECRET_KEY)["X-Amz-Expires"] == "60"


def test_publishing_through_the_sandbox_hands_meta_presigned_urls_of_the_stored_files(
    bucket: Bucket, publisher, media_root: Path
) -> None:
    # The sandbox records the image_url/video_url of each container (sandbox/views/platform.py, user_media)
    # and does not fetch it: the test fetches each URL as Meta's servers would.
    sandbox_settings_update(container_delay_seconds=0.2)
    uploads = [jpeg(1080, 1080, "a.jpg"), mp4(1080, 1080, 8, "b.mp4")]
    contents = [upload.stream.getvalue() for upload in uploads]  # type: ignore[attr-defined]
    post = post_create(
        account=publisher, kind="carousel", caption="Fresh", uploads=uploads, scheduled_at=timezone.now()
    )
    run_until_settled()

    post.refresh_from_db()
    assert post.state == PostState.PUBLISHED, post.state_reason
    items = list(ScheduledPost.all_workspaces.get(pk=post.pk).media.all())
    assert bucket.keys() == sorted(_key(item) for item in items)
    containers = SandboxContainer.objects.exclude(media_type="CAROUSEL").order_by("created_at", "id")
    assert len(containers) == len(items) == 2
    for container, item, data in zip(containers, items, contents, strict=True):
        assert container.media_url.startswith(f"{bucket.endpoint}/{bucket.name}/{_key(item)}?")
        assert sigv4_check(container.media_url, secret_key=SECRET_KEY)["X-Amz-Expires"] == str(SIGNED_URL_SECONDS)
        assert _download(container.media_url) == data
    assert _disk_files(media_root) == []


def test_replacing_a_posts_media_deletes_the_old_objects_once_committed(
    bucket: Bucket, workspace, make_account, django_capture_on_commit_callbacks
) -> None:
    post = post_create(account=make_account(workspace), kind="image", uploads=[jpeg(name="old.jpg")])
    old = post.media.get()
    assert bucket.keys() == [_key(old)]

    with django_capture_on_commit_callbacks(execute=True):
        post_edit(post=post, kind="image", caption="new photo", uploads=[jpeg(1080, 1350, "new.jpg")])

    new = post.media.get()
    assert new.file.name != old.file.name
    assert bucket.keys() == [_key(new)]
    assert not default_storage.exists(old.file.name) and default_storage.exists(new.file.name)


def test_a_rejected_post_stores_nothing(bucket: Bucket, workspace, make_account) -> None:
    with pytest.raises(PostInvalid):
        post_create(account=make_account(workspace), kind="carousel", uploads=[jpeg()])  # a carousel needs 2+
    assert bucket.keys() == []


def test_erasing_an_accounts_history_removes_its_objects_from_the_bucket(
    bucket: Bucket, workspace, make_account, django_capture_on_commit_callbacks
) -> None:
    erased, kept = make_account(workspace), make_account(workspace)
    gone = post_create(account=erased, kind="carousel", uploads=[jpeg(name="a.jpg"), jpeg(name="b.jpg")])
    post_create(account=erased, kind="image", uploads=[jpeg(name="c.jpg")])
    stays = post_create(account=kept, kind="image", uploads=[jpeg(name="d.jpg")]).media.get()
    assert len(bucket.keys()) == 4 and {_key(item) for item in gone.media.all()} < set(bucket.keys())

    with django_capture_on_commit_callbacks(execute=True):
        report = account_disconnect(account_id=erased.pk, actor=None, cause="test", delete_history=True)

    assert report.counts.get("media_files") == 3
    assert bucket.keys() == [_key(stays)]  # the other account's file is untouched


def test_erasing_a_workspace_removes_its_objects_and_only_its_own(
    bucket: Bucket, workspace, make_workspace, make_account, django_capture_on_commit_callbacks
) -> None:
    for account in (make_account(workspace), make_account(workspace)):
        post_create(account=account, kind="image", uploads=[jpeg()])
    other = post_create(account=make_account(make_workspace(name="Other")), kind="image", uploads=[jpeg()])
    assert len(bucket.keys()) == 3

    with django_capture_on_commit_callbacks(execute=True):
        workspace_erase(workspace_id=workspace.pk, actor=None)

    assert bucket.keys() == [_key(other.media.get())]


def test_media_check_writes_reads_presigns_and_deletes_a_probe(bucket: Bucket, capsys) -> None:
    call_command("media_check")
    out = capsys.readouterr().out
    assert "storages.backends.s3.S3Storage" in out and f"bucket {bucket.name}" in out
    assert f"presigned URLs on {urlsplit(bucket.endpoint).netloc}" in out
    assert "X-Amz-Signature" not in out and SECRET_KEY not in out
    assert "is not a public address: Meta's servers cannot fetch" in out  # moto on 127.0.0.1
    assert "this host's disk" not in out and "Media storage works" in out
    assert bucket.keys() == []  # the probe is gone


def test_media_check_fails_with_the_stores_reason(bucket: Bucket, settings) -> None:
    settings.AWS_STORAGE_BUCKET_NAME = "no-such-bucket"
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    with pytest.raises(CommandError, match=r"failed at write: .*NoSuchBucket"):
        call_command("media_check")


def test_media_check_on_local_disk(settings, media_root: Path, capsys: Any) -> None:
    call_command("media_check")
    out = capsys.readouterr().out
    assert "FileSystemStorage" in out and "one host's disk" in out
    assert _disk_files(media_root) == []


def test_half_of_a_key_pair_is_an_error_and_a_plain_http_endpoint_a_deploy_warning(settings) -> None:
    settings.AWS_STORAGE_BUCKET_NAME = "media"
    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = ACCESS_KEY, None
    assert [message.id for message in media_credentials_check()] == ["publishing.E001"]
    settings.AWS_SECRET_ACCESS_KEY = SECRET_KEY
    assert media_credentials_check() == []
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = None  # an instance role
    assert media_credentials_check() == []

    settings.AWS_S3_ENDPOINT_URL = "http://minio.internal:9000"
    assert [message.id for message in media_endpoint_check()] == ["publishing.W001"]
    for endpoint in ("https://minio.example.com", None):
        settings.AWS_S3_ENDPOINT_URL = endpoint
        assert media_endpoint_check() == []
    settings.AWS_STORAGE_BUCKET_NAME, settings.AWS_S3_ENDPOINT_URL = "", "http://minio.internal:9000"
    assert media_endpoint_check() == []  # local disk: no endpoint in use


ROOT = Path(__file__).resolve().parents[2]
STORAGE_FIELDS = (
    "bucket_name endpoint_url region_name access_key secret_key addressing_style location querystring_auth "
    "querystring_expire signature_version default_acl"
)
PRINT_STORAGE = (
    "import django; django.setup(); from django.core.files.storage import storages; d = storages['default']; "
    f"print(type(d).__name__, *(getattr(d, name, '-') for name in {STORAGE_FIELDS!r}.split()), sep='|')"
)


def _python(code: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """A fresh process (settings are read once per process) with only ``env`` and the demo's DEBUG."""
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DEBUG": "true"}
    clean |= {"DJANGO_SETTINGS_MODULE": "instaforge.settings", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    return subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", code], env=clean | env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_environment_configures_the_store(tmp_path: Path) -> None:
    result = _python(
        PRINT_STORAGE,
        {
            "AWS_STORAGE_BUCKET_NAME": "acme-media",
            "AWS_S3_ENDPOINT_URL": "https://minio.example.com",
            "AWS_S3_REGION_NAME": "us-east-1",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_S3_ADDRESSING_STYLE": "path",
            "AWS_LOCATION": "/instaforge/",
            "MEDIA_SIGNED_URL_SECONDS": "1800",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == [
        "S3Storage",
        "acme-media",
        "https://minio.example.com",
        "us-east-1",
        ACCESS_KEY,
        SECRET_KEY,
        "path",
        "instaforge",
        "True",
        "1800",
        "s3v4",
        "None",
    ]


def test_without_keys_boto3_finds_credentials_itself_and_without_a_bucket_media_is_on_disk(tmp_path: Path) -> None:
    role = _python(PRINT_STORAGE, {"AWS_STORAGE_BUCKET_NAME": "acme-media"}, tmp_path)
    assert role.returncode == 0, role.stderr
    # No key given to boto3 (an instance role), AWS itself (no endpoint), no prefix.
    assert role.stdout.strip().split("|")[:8] == ["S3Storage", "acme-media", "None", "None", "None", "None", "None", ""]
    disk = _python(PRINT_STORAGE, {"AWS_S3_ENDPOINT_URL": "https://minio.example.com"}, tmp_path)
    assert disk.returncode == 0, disk.stderr
    assert disk.stdout.strip().split("|")[:2] == ["FileSystemStorage", "-"]


def test_an_unknown_addressing_style_refuses_to_start(tmp_path: Path) -> None:
    result = _python("import django; django.setup()", {"AWS_S3_ADDRESSING_STYLE": "sideways"}, tmp_path)
    assert result.returncode != 0 and "AWS_S3_ADDRESSING_STYLE must be path, virtual or auto" in result.stderr
