"""The Graph API endpoints over real HTTP: replies, /me, token errors, usage headers, the calls log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from sandbox import services
from sandbox.models import SandboxAccount, SandboxCall, SandboxComment, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer, WebhookReceiver
from sandbox.tests.conftest import issue_token


@pytest.fixture
def comment(post: SandboxMedia, webhook_receiver: WebhookReceiver) -> SandboxComment:
    return services.sandbox_comment_post(media=post, from_username="jane.doe", text="Price?")


def _replies_url(server: SandboxServer, comment_id: str, version: str = "v24.0/") -> str:
    return f"{server.url}/{version}{comment_id}/replies"


def test_reply_is_created_and_logged(
    sandbox_server: SandboxServer, token: SandboxToken, comment: SandboxComment
) -> None:
    response = requests.post(
        _replies_url(sandbox_server, comment.comment_id),
        params={"access_token": token.token},
        data={"message": "It is 20 EUR!"},
        timeout=5,
    )

    assert response.status_code == 200
    reply = SandboxComment.objects.get(comment_id=response.json()["id"])
    assert (reply.parent, reply.text, reply.via_api, reply.from_id) == (
        comment,
        "It is 20 EUR!",
        True,
        token.account.user_id,
    )
    call = SandboxCall.objects.get(method="POST")
    assert call.path == f"/v24.0/{comment.comment_id}/replies"
    assert call.params == {"access_token": "REDACTED", "message": "It is 20 EUR!"}
    assert (call.status, call.response, call.account) == (200, {"id": reply.comment_id}, token.account)


def test_a_reply_made_through_the_endpoint_reads_back_through_the_orm(
    sandbox_server: SandboxServer, token: SandboxToken, comment: SandboxComment
) -> None:
    """The reply is stored by fixed SQL (the hottest call): the ORM reads back what it would have stored."""
    before = timezone.now()
    response = requests.post(
        _replies_url(sandbox_server, comment.comment_id),
        params={"access_token": token.token, "message": "Merci, 20 € ✨"},
        timeout=5,
    )

    assert response.status_code == 200
    assert list(response.json()) == ["id"]
    reply = SandboxComment.objects.select_related("parent", "media").get(comment_id=response.json()["id"])
    assert (reply.parent, reply.media, reply.from_id, reply.from_username, reply.text) == (
        comment,
        comment.media,
        token.account.user_id,
        "acme.shop",
        "Merci, 20 € ✨",
    )
    assert (reply.via_api, reply.hidden) == (True, False)
    assert before <= reply.timestamp <= timezone.now()
    assert reply.comment_id.isdigit() and 17 <= len(reply.comment_id) <= 18
    assert list(comment.replies.all()) == [reply]


def test_reply_accepts_message_in_query_and_no_version(
    sandbox_server: SandboxServer, token: SandboxToken, comment: SandboxComment
) -> None:
    response = requests.post(
        _replies_url(sandbox_server, comment.comment_id, version=""),
        params={"access_token": token.token, "message": "Thanks!"},
        timeout=5,
    )

    assert response.status_code == 200
    assert comment.replies.get().text == "Thanks!"


def test_reply_to_a_reply_lands_on_the_top_level_comment(token: SandboxToken, comment: SandboxComment) -> None:
    first = services.sandbox_reply_create(account=token.account, comment=comment, message="one")

    second = services.sandbox_reply_create(account=token.account, comment=first, message="two")

    assert second.parent == comment


def test_replies_are_listed(sandbox_server: SandboxServer, token: SandboxToken, comment: SandboxComment) -> None:
    services.sandbox_reply_create(account=token.account, comment=comment, message="Hello")

    response = requests.get(
        _replies_url(sandbox_server, comment.comment_id),
        params={"access_token": token.token, "fields": "id,text,from,timestamp"},
        timeout=5,
    )

    [reply] = response.json()["data"]
    assert reply["text"] == "Hello"
    assert reply["from"] == {"id": token.account.user_id, "username": "acme.shop"}
    assert reply["timestamp"].endswith("+0000")


def test_usage_headers_are_json_percentages(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    response = requests.get(f"{sandbox_server.url}/v24.0/me", params={"access_token": token.token}, timeout=5)

    app_usage = json.loads(response.headers["X-App-Usage"])
    business_usage = json.loads(response.headers["X-Business-Use-Case-Usage"])
    assert set(app_usage) == {"call_count", "total_time", "total_cputime"}
    assert 0 < app_usage["call_count"] <= 5
    assert business_usage[token.account.user_id][0]["type"] == "instagram"


def _graph_error(response: requests.Response) -> dict[str, object]:
    assert response.status_code == 400
    error: dict[str, object] = response.json()["error"]
    assert isinstance(error["fbtrace_id"], str) and error["fbtrace_id"]
    return error


@pytest.mark.parametrize("access_token", ["", "not-a-token"])
def test_unknown_token_is_190(sandbox_server: SandboxServer, access_token: str) -> None:
    error = _graph_error(
        requests.get(f"{sandbox_server.url}/v24.0/me", params={"access_token": access_token}, timeout=5)
    )

    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert "error_subcode" not in error


def test_expired_and_revoked_tokens_are_190_with_subcodes(
    sandbox_server: SandboxServer, account: SandboxAccount
) -> None:
    revoked = issue_token(account)
    services.sandbox_tokens_revoke(account=account)
    expired = issue_token(account)
    SandboxToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    expired_error = _graph_error(
        requests.get(f"{sandbox_server.url}/me", params={"access_token": expired.token}, timeout=5)
    )
    revoked_error = _graph_error(
        requests.get(f"{sandbox_server.url}/me", params={"access_token": revoked.token}, timeout=5)
    )

    assert (expired_error["code"], expired_error["error_subcode"]) == (190, 463)
    assert (revoked_error["code"], revoked_error["error_subcode"]) == (190, 458)


def test_product_client_maps_a_revoked_token(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    from instagram.client import InstagramClient
    from instagram.errors import TokenInvalidError

    services.sandbox_tokens_revoke(account=token.account)

    with pytest.raises(TokenInvalidError):
        InstagramClient(access_token=token.token).me()


def test_someone_elses_comment_is_an_unknown_object(sandbox_server: SandboxServer, comment: SandboxComment) -> None:
    stranger = issue_token(services.sandbox_account_create(username="stranger"))

    error = _graph_error(
        requests.post(
            _replies_url(sandbox_server, comment.comment_id),
            params={"access_token": stranger.token, "message": "hi"},
            timeout=5,
        )
    )

    assert (error["code"], error["error_subcode"], error["type"]) == (100, 33, "GraphMethodException")
    assert not comment.replies.exists()


def test_unknown_paths_need_a_token_then_are_unknown_objects(
    sandbox_server: SandboxServer, token: SandboxToken
) -> None:
    no_token = _graph_error(requests.get(f"{sandbox_server.url}/v24.0/123/comments", timeout=5))
    with_token = _graph_error(
        requests.get(f"{sandbox_server.url}/v24.0/123/comments", params={"access_token": token.token}, timeout=5)
    )

    assert no_token["code"] == 190
    assert (with_token["code"], with_token["error_subcode"]) == (100, 33)


def test_missing_message_is_100(sandbox_server: SandboxServer, token: SandboxToken, comment: SandboxComment) -> None:
    error = _graph_error(
        requests.post(_replies_url(sandbox_server, comment.comment_id), params={"access_token": token.token}, timeout=5)
    )

    assert error["code"] == 100
    assert "message" in str(error["message"])


def test_replying_needs_the_comments_permission(
    sandbox_server: SandboxServer, account: SandboxAccount, comment: SandboxComment
) -> None:
    basic_only = issue_token(account, scopes=["instagram_business_basic"])

    error = _graph_error(
        requests.post(
            _replies_url(sandbox_server, comment.comment_id),
            params={"access_token": basic_only.token, "message": "x"},
            timeout=5,
        )
    )

    assert error["code"] == 10


def test_me_fields(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    params = {
        "access_token": token.token,
        "fields": "id,user_id,username,name,account_type,media_count,profile_picture_url",
    }

    body = requests.get(f"{sandbox_server.url}/v24.0/me", params=params, timeout=5).json()
    bad = _graph_error(
        requests.get(f"{sandbox_server.url}/v24.0/me", params={**params, "fields": "shoe_size"}, timeout=5)
    )

    account = token.account
    assert body == {
        "id": account.app_scoped_id,
        "user_id": account.user_id,
        "username": "acme.shop",
        "name": "Acme Shop",
        "account_type": "BUSINESS",
        "media_count": 1,
    }
    assert bad["code"] == 100


def test_wrong_method_is_refused(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    error = _graph_error(
        requests.post(f"{sandbox_server.url}/v24.0/me", params={"access_token": token.token}, timeout=5)
    )

    assert error["message"] == "Unsupported request - method type: post"


def test_the_app_usage_figures_are_worked_out_at_most_once_per_cache_period(
    token: SandboxToken, settings, monkeypatch
) -> None:
    """They count every call of the last hour: cached for SANDBOX_USAGE_CACHE_SECONDS, read again after."""
    from sandbox import selectors
    from sandbox.models import SandboxCall, SandboxSettings

    SandboxSettings.objects.update_or_create(pk=1, defaults={"app_calls_per_user_per_hour": 10})
    monkeypatch.setattr(selectors, "_app_usage_cached", None)
    settings.SANDBOX_USAGE_CACHE_SECONDS = 60
    SandboxCall.objects.create(method="GET", path="/me", account=token.account, status=200)
    assert selectors.app_usage()["call_count"] == 10
    SandboxCall.objects.bulk_create(
        SandboxCall(method="GET", path="/me", account=token.account, status=200) for _ in range(4)
    )
    assert selectors.app_usage()["call_count"] == 10  # within the period: the figures worked out before
    settings.SANDBOX_USAGE_CACHE_SECONDS = 0
    assert selectors.app_usage()["call_count"] == 50


def test_with_caching_on_the_knobs_and_a_no_fault_answer_are_kept_and_writes_here_drop_them(
    db, settings, django_assert_num_queries
) -> None:
    """The sandbox's process keeps them for SANDBOX_KNOBS_CACHE_SECONDS; its own writes apply at once."""
    from sandbox import selectors
    from sandbox.views.base import API_FAULT_KINDS

    settings.SANDBOX_KNOBS_CACHE_SECONDS = 60
    selectors.kept_answers_clear()
    try:
        assert selectors.faults_any_active(kinds=API_FAULT_KINDS) is False
        knobs = selectors.sandbox_settings()
        with django_assert_num_queries(0):
            assert selectors.faults_any_active(kinds=API_FAULT_KINDS) is False
            kept = selectors.sandbox_settings()
        assert kept.business_calls_per_day == knobs.business_calls_per_day
        kept.business_calls_per_day = 1  # a copy: changing it changes nothing kept
        assert selectors.sandbox_settings().business_calls_per_day == knobs.business_calls_per_day

        services.sandbox_settings_update(business_calls_per_day=7)
        assert selectors.sandbox_settings().business_calls_per_day == 7
        services.sandbox_fault_add(kind="error", code=4, times=1)
        assert selectors.faults_any_active(kinds=API_FAULT_KINDS) is True
        with django_assert_num_queries(1):  # while a fault is active, every call looks
            assert selectors.faults_any_active(kinds=API_FAULT_KINDS) is True
        services.sandbox_faults_clear()
        assert selectors.faults_any_active(kinds=API_FAULT_KINDS) is False
    finally:
        selectors.kept_answers_clear()


def test_with_caching_on_a_token_is_kept_expiry_still_counts_and_a_revocation_here_applies_at_once(
    token: SandboxToken, settings, django_assert_num_queries
) -> None:
    from sandbox import selectors
    from sandbox.errors import SandboxApiError

    settings.SANDBOX_KNOBS_CACHE_SECONDS = 60
    selectors.kept_answers_clear()
    try:
        first = selectors.token_resolve(access_token=token.token)
        first.account.username = "changed here"  # a copy: nothing kept changes
        with django_assert_num_queries(0):
            kept = selectors.token_resolve(access_token=token.token)
        assert kept.account.username == token.account.username

        SandboxToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        selectors.kept_answers_clear()
        for queries in (1, 0):  # read and kept; kept, and its expiry still checked
            with django_assert_num_queries(queries), pytest.raises(SandboxApiError):
                selectors.token_resolve(access_token=token.token)
        SandboxToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() + timedelta(days=1))
        selectors.kept_answers_clear()
        selectors.token_resolve(access_token=token.token)

        services.sandbox_tokens_revoke(account=token.account)
        with pytest.raises(SandboxApiError) as refused:
            selectors.token_resolve(access_token=token.token)
        assert refused.value.body()["error"]["code"] == 190
    finally:
        selectors.kept_answers_clear()


def test_with_caching_on_an_accounts_day_count_adds_the_calls_it_logs(token: SandboxToken, settings) -> None:
    """Read once per BUSINESS_COUNT_REREAD; the calls logged meanwhile are counted as they come."""
    from sandbox import selectors

    settings.SANDBOX_USAGE_CACHE_SECONDS = 1
    account = token.account
    SandboxCall.objects.create(method="GET", path="/me", account=account, status=200)
    selectors._business_counts.pop(account.pk, None)
    try:
        assert selectors.business_calls_counted(account=account) == 1
        SandboxCall.objects.create(method="GET", path="/me", account=account, status=200)
        selectors.business_call_logged(account=account)
        assert selectors.business_calls_counted(account=account) == 2
        settings.SANDBOX_USAGE_CACHE_SECONDS = 0  # caching off: always the database's count
        SandboxCall.objects.create(method="GET", path="/me", account=account, status=200)
        assert selectors.business_calls_counted(account=account) == 3
    finally:
        selectors._business_counts.pop(account.pk, None)
