"""The follower pages over real HTTP: accounts, posts, comments with the app's replies, polling."""

from __future__ import annotations

import re

import requests

from sandbox import services
from sandbox.models import SandboxAccount, SandboxMedia, SandboxToken
from sandbox.testing import SandboxServer, WebhookReceiver


def test_home_lists_accounts_with_their_posts(sandbox_server: SandboxServer, post: SandboxMedia) -> None:
    page = requests.get(f"{sandbox_server.url}/", timeout=5).text

    assert 'data-username="acme.shop"' in page
    assert post.caption in page


def test_account_can_be_created_from_home(sandbox_server: SandboxServer) -> None:
    created = requests.post(
        f"{sandbox_server.url}/accounts/", data={"username": "bakery"}, allow_redirects=False, timeout=5
    )
    invalid = requests.post(f"{sandbox_server.url}/accounts/", data={"username": "no spaces!"}, timeout=5)

    assert created.headers["Location"] == "/u/bakery/"
    assert SandboxAccount.objects.filter(username="bakery").exists()
    assert invalid.status_code == 400


def test_account_page_nests_api_replies_under_comments(
    sandbox_server: SandboxServer,
    webhook_receiver: WebhookReceiver,
    post: SandboxMedia,
    token: SandboxToken,
    transactional_db: None,
) -> None:
    comment = services.sandbox_comment_post(media=post, from_username="jane.doe", text="Is it vegan?")
    services.sandbox_reply_create(account=token.account, comment=comment, message="Yes, 100%!")

    page = requests.get(f"{sandbox_server.url}/u/acme.shop/", timeout=5).text

    comment_html = page[page.index('data-testid="sandbox-comment"') :]
    assert re.search(r'data-testid="sandbox-reply"[^>]*data-via-api="true"', comment_html)
    assert comment_html.index("Is it vegan?") < comment_html.index("Yes, 100%!")
    for testid in ("follower-username", "follower-comment-text", "follower-comment-submit"):
        assert f'data-testid="{testid}"' in page
    assert "setInterval(refresh, 2000)" in page
    assert "HTTP 200" in page  # the last webhook's outcome


def test_invalid_comment_shows_an_error(sandbox_server: SandboxServer, post: SandboxMedia) -> None:
    response = requests.post(
        f"{sandbox_server.url}/u/acme.shop/posts/{post.media_id}/comments/",
        data={"from_username": "jane", "text": "   "},
        timeout=5,
    )

    assert response.status_code == 400
    assert "A comment needs some text." in response.text
    assert not post.comments.exists()


def test_post_can_be_shared(sandbox_server: SandboxServer, account: SandboxAccount) -> None:
    requests.post(f"{sandbox_server.url}/u/acme.shop/posts/", data={"caption": "Summer sale"}, timeout=5)

    assert account.media.first() == account.media.get(caption="Summer sale")


def test_unknown_account_is_404(sandbox_server: SandboxServer) -> None:
    assert requests.get(f"{sandbox_server.url}/u/nobody/", timeout=5).status_code == 404


def test_revoke_stops_tokens(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    requests.post(f"{sandbox_server.url}/u/acme.shop/revoke/", timeout=5)

    token.refresh_from_db()
    assert token.revoked


def test_log_page_shows_calls_and_deliveries(sandbox_server: SandboxServer, token: SandboxToken) -> None:
    requests.get(f"{sandbox_server.url}/v24.0/me", params={"access_token": token.token}, timeout=5)

    page = requests.get(f"{sandbox_server.url}/log/", timeout=5).text

    assert "GET /v24.0/me" in page
    assert token.token not in page
