"""Where post media is kept (Django's default storage: local disk, or an S3-compatible store) and its probe.

``manage.py media_check`` runs ``media_storage_probe`` after the store is configured: a mistake in the
bucket, the endpoint, the region or the credentials shows at once, not when the first post is published.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from instaforge.redaction import secrets_redact

# Where the probe's object goes (under AWS_LOCATION with S3); its name is random, so probes never collide.
PROBE_DIRECTORY = "media-check"


def storage_presigned_url(*, name: str, seconds: int) -> str | None:
    """The storage's own expiring URL for ``name`` (django-storages' S3 presigned URL), or None when it has none.

    Only a storage that signs its URLs (``querystring_auth``) qualifies; local
    disk, or a bucket configured with public URLs, falls back to InstaForge's
    own signed URL, which streams the file through ``default_storage.open``.
    """
    if not getattr(default_storage, "querystring_auth", False):
        return None
    url: str = default_storage.url(name, expire=seconds)  # type: ignore[call-arg]  # S3Storage.url takes expire
    return url


def host_is_public(host: str) -> bool:
    """Whether every address ``host`` resolves to is public (Meta's servers must reach it); False if unresolved."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError, ValueError):
        return False
    return bool(addresses) and all(ipaddress.ip_address(str(raw).split("%", 1)[0]).is_global for raw in addresses)


class MediaStorageUnusable(Exception):
    """The media storage refused a step of the probe; the message says which step and the store's reason."""


@dataclass
class MediaStorageReport:
    """What the probe found: the storage, where it keeps files, and where Meta fetches them from."""

    backend: str
    where: str
    shared: bool  # every web host sees the same files (an S3-compatible store), not one host's disk
    fetch_host: str  # the host in the URLs Meta fetches media from
    fetch_host_public: bool
    steps: list[str] = field(default_factory=list)


def _where() -> tuple[str, bool]:
    bucket = getattr(default_storage, "bucket_name", None)
    if bucket:
        endpoint = getattr(default_storage, "endpoint_url", None) or "AWS S3"
        region = getattr(default_storage, "region_name", None) or "the default region"
        location = getattr(default_storage, "location", "")
        prefix = f", keys under {location}/" if location else ""
        return f"bucket {bucket} at {endpoint} ({region}{prefix})", True
    return f"directory {settings.MEDIA_ROOT} (one host's disk: several web hosts need a shared store)", False


def media_storage_probe() -> MediaStorageReport:
    """Write a small object, read it back, make the URL Meta would get for it, delete it, and check it is gone.

    Raises ``MediaStorageUnusable`` at the first step the storage refuses
    (the store's own reason, redacted); the probe object is removed even then.
    Leaves nothing behind when it succeeds.
    """
    where, shared = _where()
    report = MediaStorageReport(
        backend=settings.STORAGES["default"]["BACKEND"],
        where=where,
        shared=shared,
        fetch_host="",
        fetch_host_public=False,
    )
    content = f"InstaForge media check {secrets.token_hex(8)}".encode()
    name = f"{PROBE_DIRECTORY}/{secrets.token_urlsafe(16)}.txt"
    step = "write"
    saved = ""
    try:
        saved = default_storage.save(name, ContentFile(content))
        report.steps.append(f"wrote {saved} ({len(content)} bytes)")
        step = "read"
        with default_storage.open(saved, "rb") as handle:
            if handle.read() != content:
                raise MediaStorageUnusable(f"read: {saved} came back with other bytes than were written.")
        report.steps.append("read it back")
        step = "presign"
        presigned = storage_presigned_url(name=saved, seconds=settings.MEDIA_SIGNED_URL_SECONDS)
        fetch_url = presigned or settings.PUBLIC_BASE_URL
        report.fetch_host = urlsplit(fetch_url).netloc
        report.fetch_host_public = host_is_public(urlsplit(fetch_url).hostname or "")
        kind = "presigned URLs" if presigned else "InstaForge's signed URLs"
        report.steps.append(
            f"Meta fetches post media from {kind} on {report.fetch_host}, valid {settings.MEDIA_SIGNED_URL_SECONDS} s"
        )
        step = "delete"
        default_storage.delete(saved)
        if default_storage.exists(saved):
            raise MediaStorageUnusable(f"delete: {saved} is still there after deleting it.")
        saved = ""
        report.steps.append("deleted it")
    except MediaStorageUnusable:
        raise
    except Exception as exc:  # the store's error, whatever its library: boto3, botocore, the file system
        raise MediaStorageUnusable(f"{step}: {type(exc).__name__}: {secrets_redact(str(exc))}") from exc
    finally:
        if saved:
            # Best effort: the probe already failed and says why.
            with contextlib.suppress(Exception):
                default_storage.delete(saved)
    return report
