"""Addresses where "Instagram" fails in every way the network can: for the tests of what reaches errors and logs.

The sandbox injects Meta's own errors (codes, 5xx, slowness); these are the failures below HTTP that it
cannot make: a refused connection, a failed DNS lookup, a URL that cannot be built, a TLS handshake with a
server that speaks plain HTTP, and a raw server that breaks its answer in a chosen way.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

Answer = Callable[[socket.socket, bytes], None]


def _read_request(connection: socket.socket) -> bytes:
    """The request's head and body (by its Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def reset_mid_body(connection: socket.socket, request: bytes) -> None:
    """A 200 whose chunked body stops half-way: the request was taken, the answer is lost."""
    connection.sendall(
        b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{"id": "1784'
    )


def close_after_request(connection: socket.socket, request: bytes) -> None:
    """The server reads the whole request and hangs up without a word."""


def not_json(connection: socket.socket, request: bytes) -> None:
    """A 200 whose body is a proxy's HTML page, not JSON."""
    body = b"<html><body>upstream hiccup</body></html>"
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def echo_error(connection: socket.socket, request: bytes) -> None:
    """A Graph error whose message quotes the whole request, query string and form body included."""
    body = json.dumps(
        {
            "error": {
                "message": f"Cannot parse {request.decode(errors='replace')}",
                "type": "OAuthException",
                "code": 100,
            }
        }
    ).encode()
    connection.sendall(
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def plain_http_at_once(connection: socket.socket, request: bytes) -> None:
    """An HTTP answer before reading anything: what a client opening TLS to a plain-HTTP port meets."""
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")


def paging_to(next_url: str) -> Answer:
    """A first page of an edge whose ``paging.next`` (no cursors) is ``next_url``."""

    def answer(connection: socket.socket, request: bytes) -> None:
        body = json.dumps({"data": [{"id": "1"}], "paging": {"next": next_url}}).encode()
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    return answer


def silent(connection: socket.socket, request: bytes) -> None:
    """No answer for longer than any test's timeout."""
    time.sleep(2)


@contextmanager
def misbehaving_server(answer: Answer) -> Iterator[str]:
    """A plain-HTTP server on 127.0.0.1 answering every request with ``answer``; yields its URL."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve_one(connection: socket.socket) -> None:
        with connection, suppress(OSError):  # the client hung up first: nothing to answer
            answer(connection, b"" if answer is plain_http_at_once else _read_request(connection))

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


@contextmanager
def refusing_address() -> Iterator[str]:
    """An address where every connection is refused (bound, never listening); yields its URL."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
    finally:
        held.close()


# Failures below HTTP with no server of their own: a name that never resolves (RFC 2606 reserves .invalid),
# a URL urllib cannot parse.
UNRESOLVABLE_URL = "http://graph.instaforge-test.invalid"
UNPARSEABLE_URL = "http://[::1"
