"""The environment every benchmark process runs with: production settings (DEBUG off), the sandbox meant.

Production refuses the demo's published values and local Instagram URLs unless INSTAGRAM_SANDBOX says the
emulator is meant (instaforge/settings.py): a benchmark says so, and brings secrets of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

# A Fernet key (32 bytes, base64): fixed so that rows seeded by one run decrypt in the next; benchmarks only.
BENCH_TOKEN_KEY = "YmVuY2gtb25seS1rZXktbm90LWEtc2VjcmV0LTAwMDE="  # noqa: S105 (published on purpose)


def bench_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Settings for a benchmark's processes; a value already in ``env`` (its secrets, its URLs) is kept."""
    return {
        "DJANGO_SETTINGS_MODULE": "instaforge.settings",
        "DEBUG": "false",
        "INSTAGRAM_SANDBOX": "true",
        # Benchmarks talk plain HTTP to processes on this machine.
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": env.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
        "SITE_URL": env.get("SITE_URL", "http://127.0.0.1:8000"),
        "SECRET_KEY": env.get("SECRET_KEY", "bench-secret-key-" + "x" * 40),
        "TOKEN_ENCRYPTION_KEYS": env.get("TOKEN_ENCRYPTION_KEYS", BENCH_TOKEN_KEY),
        "INSTAGRAM_APP_SECRET": env.get("INSTAGRAM_APP_SECRET", "bench-app-secret"),
        "INSTAGRAM_WEBHOOK_VERIFY_TOKEN": env.get("INSTAGRAM_WEBHOOK_VERIFY_TOKEN", "bench"),
        "LOG_LEVEL": "WARNING",
        "SERVER_LOG_LEVEL": "WARNING",
    }
