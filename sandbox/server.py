"""The WSGI server of the sandbox: Meta's endpoints on a port of their own."""

from __future__ import annotations

import socket
import socketserver
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.db import connection
from django.http import HttpRequest
from django.http.response import HttpResponseBase

SANDBOX_URLCONF = "sandbox.urls"
# Connections served at once; each thread keeps its database connection (CONN_MAX_AGE) between requests.
SERVER_THREADS = 64
# An idle keep-alive connection gives its thread back after this many seconds.
KEEP_ALIVE_SECONDS = 5


class SandboxHandler(WSGIHandler):
    """Serves ``sandbox.urls`` instead of InstaForge's URLconf, without InstaForge's middleware.

    Meta runs none of InstaForge's sessions, CSRF checks or workspace scoping,
    so neither does its stand-in: requests go straight to the sandbox views.
    """

    # Answers carry their length, so the server keeps the connection (off where the server has no idle timeout).
    keep_alive = True

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        # BaseHandler's own chain without any middleware (Django has no public hook for this).
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        # Django resolves against request.urlconf when it is set.
        request.urlconf = SANDBOX_URLCONF  # type: ignore[attr-defined]
        # No "SELECT 1" on this thread's kept connection before each request (CONN_HEALTH_CHECKS): for
        # Meta's stand-in that was a fifth of its statements. A connection that broke fails its request,
        # and Django drops it when that request ends (``close_old_connections``).
        connection.health_check_enabled = False  # type: ignore[attr-defined]  # not in django-stubs
        response = super().get_response(request)
        # As Django's CommonMiddleware does (none runs here): without a length the server answers
        # "Connection: close", and every call to the sandbox opened a new connection.
        if self.keep_alive and not response.streaming and not response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))  # type: ignore[attr-defined]
        return response


class _KeepAliveHandler(WSGIRequestHandler):
    timeout = KEEP_ALIVE_SECONDS

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except TimeoutError:
            # A kept-alive connection that sent nothing more: closed quietly, as http.server's own handler
            # does (Django's replaces it without that), not reported as an error with a traceback.
            self.close_connection = True


class PooledWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """Django's threaded development server, with a pool of threads instead of a new thread per connection.

    A new thread per connection also meant a new database connection per
    connection (the thread's own, closed when it ends): on PostgreSQL that
    costs more CPU than the request itself. Pool threads live on, and with
    them their connections. Being a ``ThreadingMixIn`` keeps HTTP keep-alive on
    (Django's handler closes every connection of a single-threaded server).
    """

    def __init__(self, *args: Any, threads: int = SERVER_THREADS, **kwargs: Any) -> None:
        # Before binding: socketserver calls server_close() when the bind fails (a busy port), which shuts the pool.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sandbox")
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        request, client_address = super().get_request()
        # The headers and the body of an answer go out in two writes: with Nagle's algorithm the second
        # waited for the client's delayed ACK of the first on every kept-alive connection (up to 40 ms).
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return request, client_address

    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        self._pool.submit(self.process_request_thread, request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def serve(host: str, port: int, *, on_bind: Callable[[int | str], None] | None = None) -> None:
    """Serve the sandbox until interrupted (threaded: the polling pages and the API answer side by side).

    ``on_bind`` gets the port actually bound (useful with port 0).
    """
    server = PooledWSGIServer((host, port), _KeepAliveHandler)
    if on_bind is not None:
        on_bind(server.server_port)
    server.set_app(SandboxHandler())
    try:
        server.serve_forever()
    finally:
        server.server_close()
