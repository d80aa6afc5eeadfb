"""No failure of a Graph call puts a secret in the client's errors: not their text, repr, dict or traceback.

The token here has no Instagram shape on purpose: it stays out because the client builds its errors from
safe parts (method, URL without its query, the failure's class and OS reason), not because a pattern
recognises it. Issue 18, finding 1.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import requests
from pytest_django.fixtures import Settings
from urllib3.exceptions import ConnectTimeoutError

from instagram.client import InstagramClient, _network_error
from instagram.errors import (
    GraphAPIError,
    InvalidParameterError,
    NotSentError,
    OutcomeUnknownError,
    TransientError,
)
from instagram.tests import misbehaving

TOKEN = "plain-secret-token-0123456789"
CODE = "oauth-code-secret-0123456789"
APP_SECRET = "app-secret-not-for-eyes-0123"


def everything_about(exc: BaseException) -> str:
    """Every text a caller could store, log or show of ``exc``: str, repr, its dict, the whole traceback."""
    as_dict = json.dumps(exc.as_dict()) if isinstance(exc, GraphAPIError) else ""
    return "\n".join([str(exc), repr(exc), as_dict, "".join(traceback.format_exception(exc))])


@contextmanager
def at(url: str) -> Iterator[str]:
    yield url


@contextmanager
def https_to_plain_http() -> Iterator[str]:
    with misbehaving.misbehaving_server(misbehaving.plain_http_at_once) as url:
        yield url.replace("http://", "https://")


def served(answer: misbehaving.Answer) -> Callable[[], AbstractContextManager[str]]:
    return lambda: misbehaving.misbehaving_server(answer)


# (name, address, class of a read's error, class of a write's error)
FAILURES: list[tuple[str, Callable[[], AbstractContextManager[str]], type[GraphAPIError], type[GraphAPIError]]] = [
    ("connection refused", misbehaving.refusing_address, NotSentError, NotSentError),
    ("DNS failure", lambda: at(misbehaving.UNRESOLVABLE_URL), NotSentError, NotSentError),
    ("unparseable URL", lambda: at(misbehaving.UNPARSEABLE_URL), NotSentError, NotSentError),
    ("TLS to plain HTTP", https_to_plain_http, TransientError, OutcomeUnknownError),
    ("reset mid-body", served(misbehaving.reset_mid_body), TransientError, OutcomeUnknownError),
    ("hung up after the request", served(misbehaving.close_after_request), TransientError, OutcomeUnknownError),
    ("not JSON", served(misbehaving.not_json), TransientError, TransientError),
    ("an error quoting the request", served(misbehaving.echo_error), InvalidParameterError, InvalidParameterError),
    ("no answer in time", served(misbehaving.silent), TransientError, OutcomeUnknownError),
]


@pytest.fixture(autouse=True)
def _fast(settings: Settings) -> None:
    settings.INSTAGRAM_HTTP_TIMEOUT = 0.5
    settings.INSTAGRAM_APP_SECRET = APP_SECRET


@pytest.mark.parametrize(("name", "address", "read_error", "write_error"), FAILURES, ids=[f[0] for f in FAILURES])
def test_no_failure_puts_the_token_in_an_error(
    settings: Settings,
    name: str,
    address: Callable[[], AbstractContextManager[str]],
    read_error: type[GraphAPIError],
    write_error: type[GraphAPIError],
) -> None:
    client = InstagramClient(access_token=TOKEN, max_retries=0)
    with address() as url:
        settings.INSTAGRAM_GRAPH_URL = url
        with pytest.raises(GraphAPIError) as read:
            client.me()
        with pytest.raises(GraphAPIError) as write:
            client.comment_reply(comment_id="17890000000000001", message="Thanks!")

    assert type(read.value) is read_error, everything_about(read.value)
    assert type(write.value) is write_error, everything_about(write.value)
    for caught in (read.value, write.value):
        text = everything_about(caught)
        assert TOKEN not in text
        assert "access_token" not in text or "access_token=[redacted]" in text
        assert caught.__cause__ is None  # nothing chained carries requests' own text


def test_a_next_page_url_reaches_the_error_without_its_query(settings: Settings) -> None:
    """A ``paging.next`` URL carries the token in its query: the error names the URL, the query redacted."""
    with misbehaving.refusing_address() as refusing:
        next_url = f"{refusing}/v26.0/me/media?access_token={TOKEN}&limit=25"
        with misbehaving.misbehaving_server(misbehaving.paging_to(next_url)) as url:
            settings.INSTAGRAM_GRAPH_URL = url
            with pytest.raises(NotSentError) as caught:
                InstagramClient(access_token=TOKEN, max_retries=0).media_list()
    text = everything_about(caught.value)
    assert TOKEN not in text
    assert "/v26.0/me/media?[redacted]" in text


def test_the_code_exchange_quoted_back_shows_neither_the_code_nor_the_app_secret(settings: Settings) -> None:
    """The OAuth form body (client_secret, code) quoted in an error answer is cut out."""
    with misbehaving.misbehaving_server(misbehaving.echo_error) as url:
        settings.INSTAGRAM_OAUTH_TOKEN_URL = f"{url}/oauth/access_token"
        with pytest.raises(GraphAPIError) as caught:
            InstagramClient().exchange_code(code=CODE, redirect_uri="https://app.example.com/instagram/callback/")
    text = everything_about(caught.value)
    assert "Cannot parse POST /oauth/access_token" in text  # the quote is there, its secrets are not
    assert CODE not in text and APP_SECRET not in text


@pytest.mark.parametrize("answer", [misbehaving.echo_error, misbehaving.close_after_request])
def test_the_long_lived_exchange_shows_neither_token_nor_app_secret(
    settings: Settings, answer: misbehaving.Answer
) -> None:
    """``GET /access_token?client_secret=…&access_token=…``: both secrets travel in the query."""
    with misbehaving.misbehaving_server(answer) as url:
        settings.INSTAGRAM_GRAPH_URL = url
        with pytest.raises(GraphAPIError) as caught:
            InstagramClient(max_retries=0).exchange_long_lived(short_lived_token=TOKEN)
        with pytest.raises(GraphAPIError) as refreshed:
            InstagramClient(access_token=TOKEN, max_retries=0).refresh_long_lived()
    for error in (caught.value, refreshed.value):
        text = everything_about(error)
        assert TOKEN not in text and APP_SECRET not in text


def test_a_connect_timeout_is_not_sent() -> None:
    """No connection within the timeout: nothing left, so it is safe to send again (and no risk)."""
    timeout = requests.exceptions.ConnectTimeout(ConnectTimeoutError(None, "timed out"))
    error = _network_error(
        timeout, method="POST", url=f"https://graph.example/v1/x?access_token={TOKEN}", is_write=True
    )
    assert isinstance(error, NotSentError)
    assert TOKEN not in str(error)
