"""Test helpers: the sandbox answered in this process, or on a free port; a webhook receiver that records what it gets.

Use from pytest (import the fixtures into a conftest.py, or list
``"sandbox.testing"`` in the root conftest's ``pytest_plugins``):

- ``sandbox_server``: the sandbox answered in this process, in the calling
  thread, through a ``requests`` transport (``WSGITransport``): no socket, no
  server thread, so the views see the test's own transaction and the plain
  ``db`` fixture is enough. ``SANDBOX_URL``, ``INSTAGRAM_GRAPH_URL`` and the
  two OAuth URLs point at it, so ``instagram.client`` talks to it. A test
  asks for ``transactional_db`` too when it calls the sandbox from another
  thread (which has a database connection of its own), or waits for what is
  done on commit, which a test's transaction never reaches (the sandbox's
  webhooks, the product's tasks).
- ``sandbox_live_server``: the sandbox over real HTTP on a free port, for what
  needs a socket (a browser, another process, a client that must give up
  before the server is done). Needs the database committed for the server
  thread, hence ``transactional_db``.
- ``product_in_process``: ``SANDBOX_WEBHOOK_URL`` pointed at InstaForge's
  own webhook endpoint (and the deauthorize and data deletion callback URLs at
  its callbacks), answered in this process the same way, so the sandbox's
  signed webhooks and callbacks reach the product without ``live_server``.
- ``webhook_receiver``: a tiny HTTP server with ``SANDBOX_WEBHOOK_URL``
  pointed at it; it records each request and answers with the statuses queued
  in ``respond_with`` (then 200).
"""

from __future__ import annotations

import io
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.test.testcases import LiveServerThread
from django.urls import get_urlconf, set_urlconf
from pytest_django.fixtures import Settings
from requests.adapters import BaseAdapter, HTTPAdapter
from urllib3 import HTTPResponse
from urllib3._collections import HTTPHeaderDict

from sandbox.server import SandboxHandler

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class WSGITransport(BaseAdapter):
    """A ``requests`` transport that answers by calling a WSGI application in the calling thread.

    The request is turned into a WSGI environ as Django's development server
    builds one, the application's answer into a ``requests.Response`` as
    requests' own ``HTTPAdapter`` builds one (headers, encoding, redirects,
    content decoding). The application runs on the calling thread's database
    connection: in a test's transaction (the ``db`` fixture) it sees the test's
    uncommitted rows, and Django's end-of-request connection cleanup is held
    off there, as Django's test client holds it off, so it cannot close the
    connection under the test's transaction; a thread that had no connection
    open before the call has none after it. An answer later than the read
    timeout raises ``ReadTimeout`` once the view has finished (what it wrote
    stays written, as on a server the client stopped waiting for); a test
    that needs the client back before the server is done needs a real socket
    (``sandbox_live_server``).
    """

    def __init__(self, app: WSGIApp) -> None:
        super().__init__()
        self.app = app
        self._responses = HTTPAdapter()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: object = None,
        verify: bool | str = True,
        cert: object = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
            captured["status"] = status
            captured["headers"] = headers

        started = time.monotonic()
        in_test_transaction = connection.in_atomic_block
        was_connected = connection.connection is not None
        # Only the outermost call holds the cleanup off and puts it back: a call made while another is answered
        # (the sandbox's view calling the app, both in process) must not put it back under the outer one.
        started_held = in_test_transaction and request_started.disconnect(close_old_connections)
        finished_held = in_test_transaction and request_finished.disconnect(close_old_connections)
        # The app answering sets this thread's URLconf (the sandbox has its own): the caller's comes back after.
        caller_urlconf = get_urlconf()
        try:
            result = self.app(_environ(request), start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # fires request_finished, as a WSGI server does
        finally:
            set_urlconf(caller_urlconf)
            if started_held:
                request_started.connect(close_old_connections)
            if finished_held:
                request_finished.connect(close_old_connections)
            if not in_test_transaction and not was_connected:
                connection.close()  # a thread that had no connection (a sender's) is left with none, as it was
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if isinstance(read_timeout, int | float) and time.monotonic() - started > read_timeout:
            # Late, as a server that answers after the client gave up: what the view did is done all the same.
            raise requests.exceptions.ReadTimeout(f"answered after more than {read_timeout} s", request=request)
        code, _, reason = captured["status"].partition(" ")
        raw = HTTPResponse(
            body=io.BytesIO(body),
            headers=HTTPHeaderDict(captured["headers"]),
            status=int(code),
            reason=reason,
            preload_content=False,
            decode_content=True,
            request_method=request.method,
            request_url=request.url,
        )
        response = self._responses.build_response(request, raw)
        response.connection = self  # type: ignore[assignment]  # requests types it as HTTPAdapter
        return response

    def close(self) -> None:
        self._responses.close()


def _body(request: requests.PreparedRequest) -> bytes:
    body: Any = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes):
        return body
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else data
    return b"".join(part.encode("utf-8") if isinstance(part, str) else part for part in body)


def _environ(request: requests.PreparedRequest) -> dict[str, Any]:
    """The WSGI environ of ``request``, as Django's development server (``WSGIRequestHandler``) builds it."""
    parts = urlsplit(request.url or "")
    body = _body(request)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method or "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path or "/", "iso-8859-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "127.0.0.1",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": parts.netloc,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_LENGTH":
            continue
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    return environ


class InProcessRoutes:
    """URL prefixes answered in this process: every ``requests`` session consults them before its own adapters.

    ``Session.get_adapter`` is wrapped while at least one prefix is mounted, so
    the sessions that exist already (``instagram.client`` keeps one per thread)
    and the ones ``requests.post`` makes for one call (``sandbox.webhooks``)
    route alike.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._adapters: dict[str, BaseAdapter] = {}
        self._original: Callable[[requests.Session, str], BaseAdapter] | None = None

    def mount(self, prefix: str, adapter: BaseAdapter) -> None:
        with self._lock:
            self._adapters[prefix.lower()] = adapter
            if self._original is None:
                self._original = requests.Session.get_adapter
                requests.Session.get_adapter = _routed_get_adapter  # type: ignore[method-assign,assignment]

    def unmount(self, prefix: str) -> None:
        with self._lock:
            adapter = self._adapters.pop(prefix.lower(), None)
            if adapter is not None:
                adapter.close()
            if not self._adapters and self._original is not None:
                requests.Session.get_adapter = self._original  # type: ignore[method-assign,assignment]
                self._original = None

    def adapter_for(self, url: str) -> BaseAdapter | None:
        lowered = url.lower()
        for prefix, adapter in list(self._adapters.items()):
            if lowered.startswith(prefix):
                return adapter
        return None

    def original_adapter(self, session: requests.Session, url: str) -> BaseAdapter:
        original = self._original
        if original is None:  # unmounted meanwhile by another thread: requests' own method is back
            return session.get_adapter(url)
        return original(session, url)


ROUTES = InProcessRoutes()


def _routed_get_adapter(session: requests.Session, url: str) -> BaseAdapter:
    """``requests.Session.get_adapter`` while something is served in process."""
    adapter = ROUTES.adapter_for(url)
    return adapter if adapter is not None else ROUTES.original_adapter(session, url)


@dataclass
class SandboxServer:
    """A running sandbox, answered in this process or on a port of its own. ``url`` has no trailing slash."""

    url: str
    _stop: Callable[[], None] = field(repr=False)

    def stop(self) -> None:
        self._stop()


def serve_in_process(app: WSGIApp, *, host: str = "127.0.0.1") -> tuple[str, Callable[[], None]]:
    """Answer ``app`` in this process at the URL returned (no trailing slash) until the function returned is called.

    The URL's port is bound but never listens: a call that does not go through
    ``requests`` (or comes from a process the test started) is refused at once
    instead of reaching something else on this machine.
    """
    held = socket.socket()
    held.bind((host, 0))
    url = f"http://{host}:{held.getsockname()[1]}"
    ROUTES.mount(f"{url}/", WSGITransport(app))

    def stop() -> None:
        ROUTES.unmount(f"{url}/")
        held.close()

    return url, stop


class _InProcessSandboxHandler(SandboxHandler):
    """The sandbox's handler on the caller's thread: it leaves that thread's connection as it found it."""

    keep_alive = False  # no connection to keep

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        health_check = connection.health_check_enabled  # type: ignore[attr-defined]  # not in django-stubs
        try:
            return super().get_response(request)
        finally:
            connection.health_check_enabled = health_check  # type: ignore[attr-defined]


def serve_sandbox_in_process() -> SandboxServer:
    """The sandbox answered in this process (``WSGITransport``), in the calling thread, on its connection."""
    url, stop = serve_in_process(_InProcessSandboxHandler())
    return SandboxServer(url=url, _stop=stop)


class _LiveSandboxHandler(SandboxHandler):
    """LiveServerThread hands its app a static-files handler; the sandbox serves no static files, so it is dropped.

    Each answer closes its connection (no length: Django's server then closes it). Django's live server keeps
    a thread, and its database connection, for every kept-alive connection until the client hangs up, with no
    idle timeout: those connections outlived the tests and kept PostgreSQL from dropping the test database.
    Keep-alive is tested on the sandbox's own server (``sandbox/tests/test_server.py``).
    """

    keep_alive = False

    def __init__(self, _static_files_app: object) -> None:
        super().__init__()


def start_sandbox_server(*, host: str = "127.0.0.1") -> SandboxServer:
    """Serve the sandbox on a free port in a background thread (with its own database connection)."""
    thread = LiveServerThread(host, _LiveSandboxHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error is not None:
        raise thread.error
    return SandboxServer(url=f"http://{host}:{thread.port}", _stop=thread.terminate)


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A local HTTP endpoint standing in for InstaForge's webhook URL; ``start()`` it, then ``stop()``."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.requests: list[ReceivedRequest] = []
        # Statuses for the next requests, in order; once used up, 200.
        self.respond_with: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _recording_handler(self))
        self.url = f"http://{host}:{self._server.server_address[1]}/webhooks/instagram/"

    def record(self, request: ReceivedRequest) -> int:
        """Keep ``request``; the status to answer it with."""
        with self._lock:
            self.requests.append(request)
            return self.respond_with.pop(0) if self.respond_with else 200

    def start(self) -> WebhookReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _recording_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class RecordingHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = receiver.record(ReceivedRequest(path=self.path, headers=dict(self.headers.items()), body=body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            """Silent: tests assert on ``WebhookReceiver.requests`` instead."""

    return RecordingHandler


def _instagram_pointed_at(settings: Settings, url: str) -> None:
    settings.SANDBOX_URL = url
    settings.INSTAGRAM_GRAPH_URL = url
    settings.INSTAGRAM_OAUTH_AUTHORIZE_URL = f"{url}/oauth/authorize"
    settings.INSTAGRAM_OAUTH_TOKEN_URL = f"{url}/oauth/access_token"


@pytest.fixture
def sandbox_server(db: None, settings: Settings) -> Iterator[SandboxServer]:
    """The sandbox answered in this process, with InstaForge's Instagram settings pointed at it."""
    server = serve_sandbox_in_process()
    _instagram_pointed_at(settings, server.url)
    yield server
    server.stop()


@pytest.fixture
def sandbox_live_server(transactional_db: None, settings: Settings) -> Iterator[SandboxServer]:
    """The sandbox over real HTTP on a free port, with InstaForge's Instagram settings pointed at it."""
    server = start_sandbox_server()
    _instagram_pointed_at(settings, server.url)
    yield server
    server.stop()


@pytest.fixture
def product_in_process(db: None, settings: Settings) -> Iterator[str]:
    """InstaForge answered in this process at the URL yielded; the sandbox's webhooks and callbacks point at it."""
    url, stop = serve_in_process(WSGIHandler())
    settings.SANDBOX_WEBHOOK_URL = f"{url}/webhooks/instagram/"
    settings.SANDBOX_DEAUTHORIZE_URL = f"{url}/instagram/deauthorize/"
    settings.SANDBOX_DATA_DELETION_URL = f"{url}/instagram/data-deletion/"
    yield url
    stop()


@pytest.fixture
def webhook_receiver(settings: Settings) -> Iterator[WebhookReceiver]:
    """A recording webhook endpoint, with ``SANDBOX_WEBHOOK_URL`` pointed at it."""
    receiver = WebhookReceiver().start()
    settings.SANDBOX_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.stop()
