"""Reads: the reply path's comment lookup (fixed SQL) and the copies of what the process keeps."""

from __future__ import annotations

from sandbox import selectors, services
from sandbox.models import SandboxAccount, SandboxComment, SandboxMedia


def test_a_comment_without_related_rows_is_its_ids_in_one_query(
    post: SandboxMedia, account: SandboxAccount, django_assert_num_queries
) -> None:
    comment = SandboxComment.objects.create(media=post, from_id="1", from_username="jane", text="Price?")
    reply = services.sandbox_reply_create(account=account, comment=comment, message="20 EUR")

    with django_assert_num_queries(1):
        found = selectors.comment_of_account(comment_id=reply.comment_id, account=account, related=False)

    assert found is not None
    assert (found.pk, found.comment_id, found.media_id, found.parent_id) == (
        reply.pk,
        reply.comment_id,
        post.pk,
        comment.pk,
    )
    assert not found._state.adding
    assert found.get_deferred_fields() == {"from_id", "from_username", "text", "timestamp", "via_api", "hidden"}
    assert found.text == "20 EUR"  # a deferred field loads when used, as after only()
    assert found == selectors.comment_of_account(comment_id=reply.comment_id, account=account)


def test_another_accounts_comment_is_not_found_with_or_without_related_rows(
    post: SandboxMedia, account: SandboxAccount
) -> None:
    comment = SandboxComment.objects.create(media=post, from_id="1", from_username="jane", text="Price?")
    other = services.sandbox_account_create(username="other.shop")

    for related in (True, False):
        assert selectors.comment_of_account(comment_id=comment.comment_id, account=other, related=related) is None
        assert selectors.comment_of_account(comment_id="17800000000000001", account=account, related=related) is None


def test_a_row_copy_has_the_same_values_and_a_state_of_its_own(account: SandboxAccount) -> None:
    media = account.media.select_related("account").get()

    copied = selectors._row_copy(media)
    copied.account = selectors._row_copy(media.account)
    copied.account.username = "changed.here"

    assert media.account.username == account.username
    assert copied._state is not media._state
    assert copied._state.fields_cache is not media._state.fields_cache
    assert (copied._state.adding, copied._state.db) == (media._state.adding, media._state.db)
    assert [getattr(copied, field.attname) for field in SandboxMedia._meta.concrete_fields] == [
        getattr(media, field.attname) for field in SandboxMedia._meta.concrete_fields
    ]
