"""Services: the setup the demo and the tests use, and the writes every API call makes (a reply, the calls log)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model
from pytest_django.fixtures import DjangoCaptureOnCommitCallbacks

from sandbox import services
from sandbox.models import SandboxAccount, SandboxCall, SandboxComment, SandboxMedia


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


def _stored(row: Model) -> dict[str, Any]:
    """The row's columns (all but its id) as the database driver returns them, before any field conversion."""
    meta = type(row)._meta
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s",  # noqa: S608 (names from _meta)
            [row.pk],
        )
        return dict(zip([field.attname for field in fields], cursor.fetchone(), strict=True))


def test_a_reply_is_stored_as_the_orm_stores_one(post: SandboxMedia, account: SandboxAccount) -> None:
    comment = SandboxComment.objects.create(media=post, from_id="1", from_username="jane", text="Price?")

    reply = services.sandbox_reply_create(account=account, comment=comment, message="20 € ✨")

    assert reply.pk is not None and not reply._state.adding
    twin = SandboxComment.objects.create(
        media=post,
        parent=comment,
        from_id=account.user_id,
        from_username=account.username,
        text="20 € ✨",
        via_api=True,
        timestamp=reply.timestamp,
    )
    assert _stored(reply) == {**_stored(twin), "comment_id": reply.comment_id}
    read_back = SandboxComment.objects.get(pk=reply.pk)
    assert [getattr(read_back, field.attname) for field in SandboxComment._meta.concrete_fields] == [
        getattr(reply, field.attname) for field in SandboxComment._meta.concrete_fields
    ]
    assert SandboxComment.objects.filter(timestamp=reply.timestamp).count() == 2  # same datetime storage
    assert (read_back.via_api, read_back.hidden) == (True, False)


def test_a_logged_call_is_stored_as_the_orm_stores_one(account: SandboxAccount) -> None:
    params = {
        "access_token": "IGAA-secret",
        "message": "Merci ✨",
        "nested": {"client_secret": "s3cret", "items": [{"access_token": "t"}, 1, 0.5, None, True]},
    }
    redacted = {
        "access_token": "REDACTED",
        "message": "Merci ✨",
        "nested": {"client_secret": "REDACTED", "items": [{"access_token": "REDACTED"}, 1, 0.5, None, True]},
    }
    response = {"id": "17890", "data": []}

    for logged in (account, None):
        services.sandbox_call_record(
            method="POST", path="/v24.0/1/replies", account=logged, params=params, status=200, response=response
        )

    for call in SandboxCall.objects.order_by("id"):
        assert (call.method, call.path, call.params, call.status, call.response) == (
            "POST",
            "/v24.0/1/replies",
            redacted,
            200,
            response,
        )
        twin = SandboxCall.objects.create(
            at=call.at,
            method=call.method,
            path=call.path,
            account=call.account,
            params=redacted,
            status=200,
            response=response,
        )
        assert _stored(call) == _stored(twin)
        assert SandboxCall.objects.filter(at=call.at, pk__in=[call.pk, twin.pk]).count() == 2  # same datetime storage
    assert [call.account for call in SandboxCall.objects.order_by("id")][:2] == [account, None]
    # Stored as JSON objects (jsonb on PostgreSQL), not as JSON strings: key lookups see into them.
    assert SandboxCall.objects.filter(params__nested__client_secret="REDACTED", response__id="17890").count() == 4


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL always answers INSERT … RETURNING")
def test_a_reply_gets_its_id_from_an_sqlite_without_insert_returning(
    post: SandboxMedia, account: SandboxAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.35 has no INSERT … RETURNING: the id comes as the ORM gets it there (``lastrowid``)."""
    comment = SandboxComment.objects.create(media=post, from_id="1", from_username="jane", text="Price?")
    monkeypatch.setattr(connection.features, "can_return_columns_from_insert", False)
    services._insert_statement.cache_clear()
    try:
        reply = services.sandbox_reply_create(account=account, comment=comment, message="20 EUR")
    finally:
        services._insert_statement.cache_clear()

    assert SandboxComment.objects.get(pk=reply.pk).comment_id == reply.comment_id
