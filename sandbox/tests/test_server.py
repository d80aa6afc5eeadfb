"""The sandbox's own server (``manage.py sandbox``): kept-alive connections, closed quietly when idle."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.server import PooledWSGIServer, SandboxHandler, _KeepAliveHandler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PooledWSGIServer]:
    monkeypatch.setattr(_KeepAliveHandler, "timeout", 0.3)  # an idle connection's time, shortened
    pooled = PooledWSGIServer(("127.0.0.1", 0), _KeepAliveHandler, threads=4)
    pooled.set_app(SandboxHandler())
    thread = threading.Thread(target=pooled.serve_forever, daemon=True)
    thread.start()
    yield pooled
    pooled.shutdown()
    pooled.server_close()
    thread.join(timeout=5)


def test_calls_share_a_connection_sent_without_delay(server: PooledWSGIServer, monkeypatch: Any) -> None:
    accepted: list[int] = []
    get_request = server.get_request

    def recording() -> tuple[socket.socket, Any]:
        request, address = get_request()
        accepted.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        return request, address

    monkeypatch.setattr(server, "get_request", recording)
    client = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=5)
    try:
        for _ in range(3):
            client.request("GET", "/no.such/page/")  # no route: a 404 answered without the database
            response = client.getresponse()
            assert (response.status, int(response.getheader("Content-Length") or -1)) == (404, len(response.read()))
    finally:
        client.close()
    assert accepted == [1]  # one connection, without Nagle's delay


def test_an_idle_connection_is_closed_without_an_error(server: PooledWSGIServer, monkeypatch: Any) -> None:
    errors: list[Any] = []
    monkeypatch.setattr(server, "handle_error", lambda request, address: errors.append(address))
    with socket.create_connection(("127.0.0.1", server.server_port), timeout=5) as idle:
        assert idle.recv(1) == b""  # the server hung up once the keep-alive time had passed
    assert errors == []
