"""Settings for the test suite: the product's settings, with tasks run inline and fast hashing."""

import os
import socket
from urllib.parse import urlsplit, urlunsplit

# The suite runs with the demo's defaults (the product's own default is production, DEBUG off);
# instaforge/tests/test_production_settings.py starts processes without it to test that default.
os.environ["DEBUG"] = "true"

from instaforge.settings import *  # noqa: F403
from instaforge.settings import CACHES, Q_CLUSTER, REDIS_URL

Q_CLUSTER = {**Q_CLUSTER, "sync": True}


def _redis_url_of_worker(url: str, worker: str) -> str:
    """``url`` with its database number moved up by the pytest-xdist worker's number (``gw1``: one up).

    The suite empties its Redis database after each test (conftest.py): two workers on one database would
    empty each other's cache mid-test. Their test databases need nothing here: pytest-django gives each
    worker its own (the worker's name added to the database's, the SQLite file's too).
    """
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if database > 15:
        raise ValueError(f"REDIS_URL {url!r}: pytest-xdist worker {worker} would need Redis database {database}")
    return urlunsplit(parts._replace(path=f"/{database}"))


if REDIS_URL and os.environ.get("PYTEST_XDIST_WORKER"):
    REDIS_URL = _redis_url_of_worker(REDIS_URL, os.environ["PYTEST_XDIST_WORKER"])
    Q_CLUSTER["redis"] = REDIS_URL
    CACHES = {**CACHES, "default": {**CACHES["default"], "LOCATION": REDIS_URL}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
OUTBOUND_ALLOW_PRIVATE_URLS = True  # the suite's fake CRM, flow and AI servers listen on 127.0.0.1
HUMAN_TIMING = False  # tests that need the delays turn them on
SANDBOX_USAGE_CACHE_SECONDS = 0  # tests count calls exactly
SANDBOX_KNOBS_CACHE_SECONDS = 0  # and see every knob and fault at once
# The product's own caches (the safety settings the dispatcher keeps for SAFETY_SETTINGS_CACHE_SECONDS)
# are off by default: tests change settings with the ORM too, and see each change at once. One CI leg
# runs the dispatcher's and the safety engine's tests with the production cache times instead
# (INSTAFORGE_TEST_PRODUCTION_CACHES=1, .ci/run), so the cached branches every dispatcher runs are
# tested too (their tests empty the cache before each test: a rolled-back workspace's id comes back);
# safety/tests/test_selectors.py turns the cache on itself and tests it.
PRODUCTION_CACHES = os.environ.get("INSTAFORGE_TEST_PRODUCTION_CACHES", "") == "1"
if not PRODUCTION_CACHES:
    SAFETY_SETTINGS_CACHE_SECONDS = 0


def _refusing_url() -> str:
    """An address on this machine where every connection is refused, for as long as the test run lasts.

    The product's default Instagram address is the demo's sandbox (127.0.0.1:8001). A test that calls
    Instagram without its own sandbox (``sandbox.testing``) must not reach a demo that happens to run
    on the same machine: the socket is bound but never listens, so the kernel refuses every connection.
    """
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    _held.append(refusing)
    return f"http://127.0.0.1:{refusing.getsockname()[1]}"


_held: list[object] = []
# A process a test starts with these settings (publishing.stress's dispatchers) is given its test's
# sandbox here; SANDBOX_URL itself may come from a developer's .env, which the settings read.
SANDBOX_URL = os.environ.get("TEST_SANDBOX_URL") or _refusing_url()
INSTAGRAM_GRAPH_URL = SANDBOX_URL
INSTAGRAM_OAUTH_AUTHORIZE_URL = f"{SANDBOX_URL}/oauth/authorize"
INSTAGRAM_OAUTH_TOKEN_URL = f"{SANDBOX_URL}/oauth/access_token"
