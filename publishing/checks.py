"""System checks of publishing's media storage (``manage.py check``, ``check --deploy`` and every server start).

Whether several web hosts share local disk cannot be known from one process: docs/operations.md
("Media storage") says that they need the S3-compatible store, and ``manage.py media_check`` tests a store.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def media_credentials_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With a bucket, the access key id and the secret key are set together or not at all.

    One without the other is handed to boto3 as it is, and every upload fails; neither lets boto3 find
    credentials itself (an instance role).
    """
    if not settings.AWS_STORAGE_BUCKET_NAME:
        return []
    if bool(settings.AWS_ACCESS_KEY_ID) == bool(settings.AWS_SECRET_ACCESS_KEY):
        return []
    return [
        checks.Error(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for an instance role).",
            hint="Set both from the store's access key, or remove both (docs/configuration.md).",
            id="publishing.E001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def media_endpoint_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A presigned URL is a bearer credential: on a plain-HTTP endpoint anyone on the path can reuse it."""
    endpoint = settings.AWS_S3_ENDPOINT_URL or ""
    if not settings.AWS_STORAGE_BUCKET_NAME or not endpoint.lower().startswith("http://"):
        return []
    return [
        checks.Warning(
            f"AWS_S3_ENDPOINT_URL ({endpoint}) is plain HTTP: the presigned URLs of post media given to members "
            "and to Meta would travel unencrypted.",
            hint="Serve the store over HTTPS and use its https:// address.",
            id="publishing.W001",
        )
    ]
