"""Setup services used by the demo and the tests."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from sandbox import services
from sandbox.models import SandboxAccount, SandboxMedia


def test_account_create_is_idempotent_and_seeds_one_post(db: None) -> None:
    first = services.sandbox_account_create(username="Acme.Shop", name="Acme")
    again = services.sandbox_account_create(username="acme.shop")

    assert first == again
    assert first.username == "acme.shop"
    assert SandboxMedia.objects.filter(account=first).count() == 1
    assert SandboxAccount.objects.count() == 1


def test_account_create_refuses_invalid_usernames(db: None) -> None:
    with pytest.raises(ValidationError):
        services.sandbox_account_create(username="x" * 31)


def test_comment_webhook_waits_for_commit(
    db: None, post: SandboxMedia, django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        services.sandbox_comment_post(media=post, from_username="jane", text="hi")

    assert len(callbacks) == 1
