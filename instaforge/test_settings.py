"""Settings for the test suite: the product's settings, with tasks run inline and fast hashing."""

import os

# The suite runs with the demo's defaults (the product's own default is production, DEBUG off);
# instaforge/tests/test_production_settings.py starts processes without it to test that default.
os.environ["DEBUG"] = "true"

from instaforge.settings import *  # noqa: F403
from instaforge.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
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
SAFETY_SETTINGS_CACHE_SECONDS = (
    0  # tests change settings with the ORM too; safety/tests/test_selectors.py covers the cache
)


def _refusing_url() -> str:
    """An address on this machine where every connection is refused, for as long as the test run lasts.

    The product's default Instagram address is the demo's sandbox (127.0.0.1:8001). A test that calls
    Instagram without its own sandbox (``sandbox.testing``) must not reach a demo that happens to run
    on the same machine: the socket is bound but never listens, so the kernel refuses every connection.
    """
    import socket

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
