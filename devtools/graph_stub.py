"""A minimal stand-in for the Graph API that records when each reply arrives, for the pipeline benchmark.

The sandbox (sandbox/) emulates Meta faithfully, but it is a Django app that stores every call in the database:
under load its CPU competes with InstaForge's on the same cores, and its reply rows are how the sandbox run
measures latency. ``bench/pipeline.py --graph stub`` runs this instead: a threaded HTTP server inside the
benchmark's own process, keep-alive, no database, answering only the calls that pipeline makes, each with the
documented shape (instagram/tests/fixtures/meta/, sources in its SOURCES.md):

- ``POST /{ig-comment-id}/replies`` (a public reply): ``{"id"}`` (comment_reply_response.json);
- ``POST /me/messages`` (or ``/{ig-id}/messages``): a DM (``recipient.id``) or a private reply
  (``recipient.comment_id``) answers ``{"recipient_id", "message_id"}`` (send_message_response.json); a sender
  action (typing indicator) answers ``{"recipient_id"}`` only (same source);
- ``GET /{igsid}?fields=name,username`` (the User Profile API, read for each new conversation): the requested
  ones of ``name`` and ``username`` (user_profile_response.json).

Anything else answers HTTP 400 with the Graph API's error shape (error_response_graph_generic.json; code 100,
"Invalid parameter", from error_codes.json) and is counted in ``unexpected``, so a benchmark notices a call it
did not plan for. Every token is accepted. The webhooks the benchmark sends for the stub's accounts are built
here too, in the shapes the sandbox sends (sandbox/webhooks.py; webhook_comments.json, webhook_messages_text.json).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The replies a benchmark waits for, by what they answer: a comment id (public or private reply) or a DM's
# recipient IGSID. Sender actions (typing indicators) precede a DM reply and are counted, not awaited.
REPLY_KINDS = ("comment_reply", "private_reply", "message")
PROFILE_FIELDS = ("name", "username")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], stub: GraphStub) -> None:
        self.stub = stub
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # Small answers on a kept-alive connection: without this, Nagle's algorithm holds each answer back for
        # the client's delayed ACK (bench/README.md, third round), tens of milliseconds of false latency.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the product's client keeps its connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        """Silent: one line per call would cost more than the answer."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        arrived = time.monotonic()
        raw = self._body()
        url = urlsplit(self.path)
        segments = [part for part in url.path.split("/") if part]
        if segments and segments[0].startswith("v") and segments[0][1:2].isdigit():
            segments = segments[1:]  # the API version (/v26.0/...)
        status, body = self.server.stub.answer(
            method=method, segments=segments, query=parse_qs(url.query), raw=raw, arrived=arrived
        )
        self._answer(status, body)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


class GraphStub:
    """The responder and its records; ``start()`` serves it on a free local port, ``stop()`` ends it.

    ``replies`` maps what a reply answers (a comment id, a DM's recipient IGSID) to the ``time.monotonic()`` of
    the first reply's arrival, so a benchmark in the same process gets e2e latency = arrival − webhook sent.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.replies: dict[str, float] = {}
        self.reply_counts: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        # Who commented (comment id → IGSID), for a private reply's answer, and who is who (IGSID → username),
        # for the profile reads: registered by the benchmark as it makes the events.
        self.commenters: dict[str, str] = {}
        self.profiles: dict[str, str] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- serving ---------------------------------------------------------------------------
    def start(self, *, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (``INSTAGRAM_GRAPH_URL``)."""
        self._server = _Server((host, port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="graph-stub", daemon=True)
        self._thread.start()
        return f"http://{host}:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- what the benchmark registers and reads -----------------------------------------------
    def person_add(self, *, igsid: str, username: str) -> None:
        with self._lock:
            self.profiles[igsid] = username

    def comment_add(self, *, comment_id: str, commenter_id: str, username: str) -> None:
        with self._lock:
            self.commenters[comment_id] = commenter_id
            self.profiles[commenter_id] = username

    def duplicates(self) -> int:
        """Replies beyond the first to the same comment or person (the pipeline must send each once)."""
        with self._lock:
            return sum(count - 1 for count in self.reply_counts.values() if count > 1)

    # --- answers ---------------------------------------------------------------------------------
    def _record(self, kind: str, correlation: str, arrived: float) -> None:
        with self._lock:
            self.calls[kind] += 1
            if kind in REPLY_KINDS:
                self.replies.setdefault(correlation, arrived)
                self.reply_counts[correlation] += 1

    def _unexpected(self, method: str, segments: list[str]) -> tuple[int, dict[str, Any]]:
        shape = "/".join("{id}" if part.isdigit() else part for part in segments)
        with self._lock:
            self.unexpected[f"{method} /{shape}"] += 1
        error = {"message": "Unsupported request", "type": "OAuthException", "code": 100, "fbtrace_id": "GraphStub"}
        return 400, {"error": error}

    def _message_id(self) -> str:
        return base64.urlsafe_b64encode(f"ig_message_item:1:IGMessage:{next(self._ids)}".encode()).decode().rstrip("=")

    def answer(
        self, *, method: str, segments: list[str], query: dict[str, list[str]], raw: bytes, arrived: float
    ) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one call; records it."""
        if method == "POST" and len(segments) == 2 and segments[1] == "replies":
            self._record("comment_reply", segments[0], arrived)
            return 200, {"id": str(17_900_000_000_000_000 + next(self._ids))}
        if method == "POST" and len(segments) == 2 and segments[1] == "messages":
            try:
                payload = json.loads(raw or b"{}")
            except ValueError:
                return self._unexpected(method, segments)
            recipient = payload.get("recipient") if isinstance(payload, dict) else None
            if not isinstance(recipient, dict):
                return self._unexpected(method, segments)
            if "sender_action" in payload and "id" in recipient:
                self._record("sender_action", str(recipient["id"]), arrived)
                return 200, {"recipient_id": str(recipient["id"])}
            if "comment_id" in recipient:
                comment_id = str(recipient["comment_id"])
                self._record("private_reply", comment_id, arrived)
                with self._lock:
                    commenter = self.commenters.get(comment_id, comment_id)
                return 200, {"recipient_id": commenter, "message_id": self._message_id()}
            if "id" in recipient and "message" in payload:
                self._record("message", str(recipient["id"]), arrived)
                return 200, {"recipient_id": str(recipient["id"]), "message_id": self._message_id()}
            return self._unexpected(method, segments)
        if method == "GET" and len(segments) == 1 and segments[0].isdigit():
            with self._lock:
                username = self.profiles.get(segments[0])
            if username is None:
                return self._unexpected(method, segments)
            self._record("user_profile", segments[0], arrived)
            fields = ",".join(query.get("fields", [])).split(",")
            profile = {"name": username.title(), "username": username}
            return 200, {key: value for key, value in profile.items() if key in fields}
        return self._unexpected(method, segments)


# --- the webhooks Meta would send for the stub's accounts ----------------------------------------------


def comment_webhook(*, account_id: str, media_id: str, comment_id: str, from_id: str, username: str, text: str) -> dict:
    """A top-level comment's ``comments`` notification, as sandbox/webhooks.py's ``comment_webhook_payload``."""
    value = {
        "from": {"id": from_id, "username": username},
        "media": {"id": media_id, "media_product_type": "FEED"},
        "id": comment_id,
        "text": text,
    }
    entry = {"id": account_id, "time": int(time.time()), "changes": [{"field": "comments", "value": value}]}
    return {"object": "instagram", "entry": [entry]}


def message_webhook(*, account_id: str, sender_id: str, mid: str, text: str) -> dict:
    """A follower's text DM as a ``messages`` notification, as sandbox/webhooks.py's ``message_webhook_payload``."""
    milliseconds = int(time.time() * 1000)
    event = {
        "sender": {"id": sender_id},
        "recipient": {"id": account_id},
        "timestamp": milliseconds,
        "message": {"mid": mid, "text": text},
    }
    return {"object": "instagram", "entry": [{"id": account_id, "time": milliseconds, "messaging": [event]}]}


def webhook_body(*, payload: dict, secret: str) -> tuple[bytes, dict[str, str]]:
    """The bytes to POST and their headers, signed as Meta signs (``X-Hub-Signature-256``, escaped unicode)."""
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
