"""Test helpers: the sandbox on a free port in this process, and a webhook receiver that records what it gets.

Use from pytest (import the fixtures into a conftest.py, or list
``"sandbox.testing"`` in the root conftest's ``pytest_plugins``):

- ``sandbox_server``: the sandbox over real HTTP, with ``SANDBOX_URL``,
  ``INSTAGRAM_GRAPH_URL`` and the two OAuth URLs pointed at it, so
  ``instagram.client`` talks to it. Needs the database committed for the
  server thread, hence ``transactional_db``.
- ``webhook_receiver``: a tiny HTTP server with ``SANDBOX_WEBHOOK_URL``
  pointed at it; it records each request and answers with the statuses queued
  in ``respond_with`` (then 200).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test.testcases import LiveServerThread
from pytest_django.fixtures import Settings

from sandbox.server import SandboxHandler


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


@dataclass
class SandboxServer:
    """A running in-process sandbox. ``url`` has no trailing slash."""

    url: str
    _thread: LiveServerThread

    def stop(self) -> None:
        self._thread.terminate()


def start_sandbox_server(*, host: str = "127.0.0.1") -> SandboxServer:
    """Serve the sandbox on a free port in a background thread (with its own database connection)."""
    thread = LiveServerThread(host, _LiveSandboxHandler, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error is not None:
        raise thread.error
    return SandboxServer(url=f"http://{host}:{thread.port}", _thread=thread)


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


@pytest.fixture
def sandbox_server(transactional_db: None, settings: Settings) -> Iterator[SandboxServer]:
    """The sandbox over HTTP, with InstaForge's Instagram settings pointed at it."""
    server = start_sandbox_server()
    settings.SANDBOX_URL = server.url
    settings.INSTAGRAM_GRAPH_URL = server.url
    settings.INSTAGRAM_OAUTH_AUTHORIZE_URL = f"{server.url}/oauth/authorize"
    settings.INSTAGRAM_OAUTH_TOKEN_URL = f"{server.url}/oauth/access_token"
    yield server
    server.stop()


@pytest.fixture
def webhook_receiver(settings: Settings) -> Iterator[WebhookReceiver]:
    """A recording webhook endpoint, with ``SANDBOX_WEBHOOK_URL`` pointed at it."""
    receiver = WebhookReceiver().start()
    settings.SANDBOX_WEBHOOK_URL = receiver.url
    yield receiver
    receiver.stop()
