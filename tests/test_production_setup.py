"""The production set-up of deploy/README.md, started on this machine, drives comments to their replies.

Everything as the recipe has it: secrets in an env file (DEBUG off, generated keys and app secret), a
fresh PostgreSQL database and Redis, ``manage.py release`` (twice: it must be safe on every deploy), gunicorn
with deploy/gunicorn.conf.py, a django-q2 worker and a dispatcher, each a process of its own given only that
env file (as systemd's ``EnvironmentFile=`` gives it). The sandbox stands in for Meta (``INSTAGRAM_SANDBOX``).

The test plays Meta: signed ``comments`` webhooks over ONE kept-alive connection, in bursts separated by idle
gaps longer than gunicorn's keep-alive, while other clients hold idle connections open. The issue's
measurement: gunicorn's sync workers close every connection and stall on an idle one (57 of 100 webhooks
acked); the threaded workers of the recipe must ack every one at once, reusing the connection within a burst,
and every comment must get its reply in the sandbox.

Needs PostgreSQL (``DATABASE_URL``, whose server creates and drops the test's own database) and Redis
(``REDIS_URL``: the suite's own database number, which no other process of the run uses).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import environ
import psycopg
import pytest
import redis
import requests
from cryptography.fernet import Fernet
from django.conf import settings
from psycopg import sql

from devtools.open_policies import OPEN_POLICIES

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "manage.py")]
KEEPALIVE_SECONDS = 3  # GUNICORN_KEEPALIVE in the env file; the gaps between bursts are longer
BURSTS = 5
PER_BURST = 2
IDLE_CLIENTS = 10  # kept-alive connections left idle: more than gunicorn's threads (2 workers x 4)
ACK_TIMEOUT_SECONDS = 5.0
REPLY_TIMEOUT_SECONDS = 90.0

# Run in the production database by `manage.py shell -c`: an account connected to the sandbox with a reply
# rule, and follower comments on its post that exist in the sandbox; prints each comment's webhook payload
# (the sandbox's own builder, Meta's shape: instagram/tests/fixtures/meta/webhook_comments.json).
SEED = """
import json
from accounts.models import Workspace
from devtools.seeding import COMMENT_SCOPES, sandbox_connected_account
from engagement.models import CommentRule
from engagement.services import comment_rule_save
from sandbox.models import SandboxComment
from sandbox.services import follower_id
from sandbox.webhooks import comment_webhook_payload

workspace = Workspace.objects.create(name="Production set-up")
account, sandbox_account = sandbox_connected_account(workspace, username="production_bakery", scopes=COMMENT_SCOPES)
comment_rule_save(rule=CommentRule(workspace=workspace, account=account, name="Prices", keywords="price",
                                   reply_templates="Hi {username}, croissants are 2.50!"))
media = sandbox_account.media.get()
comments = [
    SandboxComment.objects.create(media=media, from_id=follower_id(f"fan{n}"), from_username=f"fan{n}",
                                  text=f"what is the price? ({n})")
    for n in range(COUNT)
]
print(json.dumps([{"pk": c.pk, "payload": comment_webhook_payload(comment=c)} for c in comments]))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, every: float = 0.2) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(every)
    if not condition():
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def env_file_read(path: Path) -> dict[str, str]:
    """``NAME=value`` lines, as systemd's ``EnvironmentFile=`` reads this file (no quoting in it)."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def postgres_config() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL", "")
    config = environ.Env.db_url_config(url) if url else {}
    if "postgresql" not in str(config.get("ENGINE", "")):
        pytest.skip("the production set-up needs PostgreSQL: set DATABASE_URL to a postgres:// URL (CI does)")
    return config


@pytest.fixture
def production_database() -> Iterator[str]:
    """A fresh database on the suite's PostgreSQL server, dropped afterwards (its processes' connections too)."""
    config = postgres_config()
    name = f"if_production_{secrets.token_hex(4)}"
    given = {
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    connect = {key: value for key, value in given.items() if value is not None}
    with psycopg.connect(dbname="postgres", autocommit=True, **connect) as server:
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    password = f":{quote(str(config['PASSWORD']))}" if config.get("PASSWORD") else ""
    user = f"{quote(str(config['USER']))}{password}@" if config.get("USER") else ""
    try:
        yield f"postgres://{user}{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **connect) as server:
            server.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def production_redis() -> Iterator[str]:
    """The suite's own Redis database (each pytest-xdist worker has its own), emptied: no task of an earlier run."""
    url = str(settings.REDIS_URL)
    if not url:
        pytest.skip("the production set-up needs Redis: set REDIS_URL (CI does)")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


class Processes:
    """The set-up's processes, each in a process group of its own (gunicorn's and django-q2's children too)."""

    def __init__(self, *, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: dict[str, subprocess.Popen[bytes]] = {}
        self._files: list[IO[bytes]] = []

    def run(self, name: str, command: list[str], *, timeout: float = 300) -> str:
        result = subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
            command, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
        )
        (self.logs / f"{name}.log").write_text(result.stdout + result.stderr)
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def start(self, name: str, command: list[str]) -> None:
        out = (self.logs / f"{name}.out").open("wb")
        err = (self.logs / f"{name}.err").open("wb")
        self._files += [out, err]
        self.started[name] = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
            command, env=self.env, cwd=ROOT, stdout=out, stderr=err, start_new_session=True
        )

    def alive(self) -> None:
        dead = {name: process.returncode for name, process in self.started.items() if process.poll() is not None}
        assert not dead, f"exited early: {dead}; logs in {self.logs}"

    def stop(self) -> None:
        """SIGTERM to each group (the units' KillSignal), then SIGKILL to what is left after 20 s."""
        for process in self.started.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        end = time.monotonic() + 20
        for process in self.started.values():
            try:
                process.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for file in self._files:
            file.close()

    def log(self, name: str) -> str:
        return "".join(
            (self.logs / f"{name}.{kind}").read_text(errors="replace")
            for kind in ("out", "err")
            if (self.logs / f"{name}.{kind}").exists()
        )


def signed(payload: dict[str, Any], secret: str) -> tuple[bytes, str]:
    """The body and ``X-Hub-Signature-256`` Meta sends: HMAC-SHA256 of the exact bytes, with the app secret."""
    body = json.dumps(payload, separators=(",", ":")).encode("ascii")
    return body, "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def closed_by_server(sock: socket.socket | None) -> bool:
    """Whether the server has closed this idle connection (readable, and what there is to read is its end)."""
    if sock is None:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""


def replies_in_sandbox(database_url: str, comment_ids: list[int]) -> int:
    """How many of the comments have the account's reply in the sandbox (posted through its Graph API)."""
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as connection:
        row = connection.execute(
            "SELECT count(DISTINCT parent_id) FROM sandbox_sandboxcomment WHERE via_api AND parent_id = ANY(%s)",
            [comment_ids],
        ).fetchone()
    return int(row[0]) if row else 0


def test_production_setup_acks_webhooks_over_kept_alive_connections_and_replies(
    tmp_path: Path, production_database: str, production_redis: str
) -> None:
    web_port, sandbox_port = free_port(), free_port()
    app_secret, metrics_token = secrets.token_hex(16), secrets.token_urlsafe(16)
    policies = tmp_path / "policies.yaml"
    policies.write_text(OPEN_POLICIES)  # no cooldowns: ten replies on one account in seconds, not minutes
    env_file = tmp_path / "env"
    env_file.write_text(
        "\n".join(
            [
                "DEBUG=false",
                f"SECRET_KEY={secrets.token_urlsafe(50)}",
                f"TOKEN_ENCRYPTION_KEYS={Fernet.generate_key().decode()}",
                f"DATABASE_URL={production_database}",
                f"REDIS_URL={production_redis}",
                "ALLOWED_HOSTS=127.0.0.1,localhost",
                f"SITE_URL=https://localhost:{web_port}",
                "TRUSTED_PROXY_COUNT=1",
                "INSTAGRAM_SANDBOX=true",
                f"SANDBOX_URL=http://127.0.0.1:{sandbox_port}",
                "INSTAGRAM_APP_ID=1234567890",
                f"INSTAGRAM_APP_SECRET={app_secret}",
                f"INSTAGRAM_WEBHOOK_VERIFY_TOKEN={secrets.token_urlsafe(16)}",
                f"POLICIES_FILE={policies}",
                "HUMAN_TIMING=false",
                f"GUNICORN_BIND=127.0.0.1:{web_port}",
                f"GUNICORN_KEEPALIVE={KEEPALIVE_SECONDS}",
                f"METRICS_TOKEN={metrics_token}",
                f"PROMETHEUS_MULTIPROC_DIR={tmp_path / 'prometheus'}",
                "",
            ]
        )
    )
    (tmp_path / "prometheus").mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    # Only the env file (and a PATH): not the suite's environment, which has DEBUG=true.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env_file_read(env_file)}
    processes = Processes(env=env, logs=logs)

    first = processes.run("release-1", [*MANAGE, "release"])
    assert "release: done" in first and "Applying " in first
    second = processes.run("release-2", [*MANAGE, "release"])
    assert "No migrations to apply." in second and "created:" not in second

    seed = processes.run("seed", [*MANAGE, "shell", "-c", SEED.replace("COUNT", str(BURSTS * PER_BURST))])
    comments = json.loads(seed.strip().splitlines()[-1])
    assert len(comments) == BURSTS * PER_BURST

    with ExitStack() as cleanup:
        cleanup.callback(processes.stop)
        processes.start("sandbox", [*MANAGE, "sandbox", "--host", "127.0.0.1", "--port", str(sandbox_port)])
        processes.start("web", [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "instaforge.wsgi"])
        processes.start("worker", [*MANAGE, "qcluster"])
        processes.start("dispatcher", [*MANAGE, "dispatch"])
        wait_until(lambda: listening(web_port) and listening(sandbox_port), timeout=60, what="gunicorn and the sandbox")
        base = f"http://127.0.0.1:{web_port}"
        # The TLS proxy of the recipe: it says the client came over HTTPS (SECURE_SSL_REDIRECT is on).
        proxy_headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}

        def ready() -> bool:
            processes.alive()
            checks = "check=database&check=broker&check=migrations&check=dispatcher"
            try:
                return requests.get(f"{base}/readyz?{checks}", headers=proxy_headers, timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_until(ready, timeout=60, what="/readyz (database, broker, migrations, a dispatcher's heartbeat)")
        # A token in a query string (an OAuth callback's code, a careless link) must not reach the access log.
        leaked_token = "IGAA" + secrets.token_hex(20)
        requests.get(f"{base}/healthz?access_token={leaked_token}", headers=proxy_headers, timeout=5)

        # Meta's side: one connection, kept alive, that the server may close while it is idle.
        connection = http.client.HTTPConnection("127.0.0.1", web_port, timeout=ACK_TIMEOUT_SECONDS)
        cleanup.callback(connection.close)
        acks: list[tuple[int, str]] = []
        local_ports: list[set[int]] = []
        for burst in range(BURSTS):
            if burst:
                time.sleep(KEEPALIVE_SECONDS + 3)  # idle longer than gunicorn's keep-alive
                assert closed_by_server(connection.sock), "gunicorn kept an idle connection open past its keep-alive"
                connection.close()  # as a client's pool does with a connection the server closed: a new one
            # Other clients' kept-alive connections, idle while the burst is sent: more of them than gunicorn
            # has threads (a server that gave each connection a thread would have none left for Meta).
            for _ in range(IDLE_CLIENTS):
                idle = http.client.HTTPConnection("127.0.0.1", web_port, timeout=ACK_TIMEOUT_SECONDS)
                cleanup.callback(idle.close)
                idle.request("GET", "/healthz", headers=proxy_headers)
                assert idle.getresponse().read() and idle.sock is not None  # answered, and kept open
            ports = set()
            for comment in comments[burst * PER_BURST : (burst + 1) * PER_BURST]:
                body, signature = signed(comment["payload"], app_secret)
                headers = {**proxy_headers, "Content-Type": "application/json", "X-Hub-Signature-256": signature}
                connection.request("POST", "/webhooks/instagram/", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                acks.append((response.status, (response.getheader("Connection") or "").lower()))
                if connection.sock is not None:  # None: the server said "Connection: close" (sync workers)
                    ports.add(connection.sock.getsockname()[1])
            local_ports.append(ports)

        assert acks == [(200, "keep-alive")] * len(comments), acks  # sync workers answer "close" to each
        # Kept alive within each burst: every webhook of a burst went over the same connection.
        assert [len(ports) for ports in local_ports] == [1] * BURSTS, local_ports

        comment_ids = [comment["pk"] for comment in comments]

        def all_replied() -> bool:
            processes.alive()
            return replies_in_sandbox(production_database, comment_ids) == len(comment_ids)

        wait_until(all_replied, timeout=REPLY_TIMEOUT_SECONDS, what="every comment's reply in the sandbox", every=0.5)

        # prometheus-client's multiprocess mode: the host's gunicorn workers counted the deliveries together.
        metrics = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {metrics_token}"}, timeout=10).text
        accepted = re.search(r'^instaforge_webhook_deliveries_total\{result="accepted"\} (\S+)$', metrics, re.MULTILINE)
        assert accepted is not None and float(accepted.group(1)) == len(comments)

    # gunicorn's lines went through the product's JSON logging: the access log names each request's id.
    access = [json.loads(line) for line in processes.log("web").splitlines() if line.startswith("{")]
    webhook_lines = [line for line in access if "POST /webhooks/instagram/" in line.get("message", "")]
    assert len(webhook_lines) == len(comments)
    assert all(re.search(r"request_id=[0-9a-f]{32} ", line["message"]) for line in webhook_lines), webhook_lines[:2]
    assert any(line.get("logger") == "gunicorn.error" for line in access)
    assert leaked_token not in processes.log("web")
    assert any("GET /healthz?access_token=[redacted]" in line.get("message", "") for line in access)
