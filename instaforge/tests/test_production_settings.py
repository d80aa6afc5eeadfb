"""Production fails closed: what a process started without the demo's DEBUG=true accepts and refuses.

Each case starts a fresh Python process (settings are read once per process) with a clean environment:
the suite itself runs with DEBUG=true (instaforge/test_settings.py).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
DEMO_SECRET_KEY = "insecure-demo-key-change-me-in-production-0123456789"
DEMO_TOKEN_KEY = "aW5zdGFmb3JnZS1kZW1vLWtleS1sb2NhbC1vbmx5ISE="

PRINT_SETTINGS = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.DEBUG, s.INSTAGRAM_SANDBOX, s.INSTAGRAM_GRAPH_URL, s.INSTAGRAM_OAUTH_AUTHORIZE_URL, "
    "s.INSTAGRAM_OAUTH_TOKEN_URL, sep='|')"
)


def production_env(tmp_path: Path) -> dict[str, str]:
    """deploy/.env.example with generated secrets in its empty places, on a throw-away SQLite file."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    generated = {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "INSTAGRAM_APP_ID": "1234567890",
        "INSTAGRAM_APP_SECRET": secrets.token_hex(16),
        "INSTAGRAM_WEBHOOK_VERIFY_TOKEN": secrets.token_urlsafe(16),
    }
    for name, value in values.items():
        if not value:
            values[name] = generated[name]  # a new empty value in the example needs a generator here
    values["DATABASE_URL"] = f"sqlite:///{tmp_path / 'production.sqlite3'}"
    values.pop("REDIS_URL", None)  # no Redis is needed to check the settings
    return values


def run(code_or_command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "instaforge.settings"
    return subprocess.run(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, *code_or_command], env=clean, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def settings_of(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run(["-c", PRINT_SETTINGS], env)


def test_debug_is_off_when_unset_and_nothing_starts_without_its_secrets(tmp_path: Path) -> None:
    result = settings_of({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set in the environment when DEBUG is off" in result.stderr


def test_the_production_example_starts_on_metas_urls(tmp_path: Path) -> None:
    result = settings_of(production_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split("|") == [
        "False",
        "False",
        "https://graph.instagram.com",
        "https://www.instagram.com/oauth/authorize",
        "https://api.instagram.com/oauth/access_token",
    ]


def test_check_deploy_is_clean_on_the_production_example(tmp_path: Path) -> None:
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "demo_value"),
    [
        ("SECRET_KEY", DEMO_SECRET_KEY),
        ("TOKEN_ENCRYPTION_KEYS", DEMO_TOKEN_KEY),
        # A new key first, the demo's after it. Named: a random test id differs between pytest-xdist's workers.
        pytest.param(
            "TOKEN_ENCRYPTION_KEYS",
            f"{Fernet.generate_key().decode()},{DEMO_TOKEN_KEY}",
            id="TOKEN_ENCRYPTION_KEYS-new-key,demo-key",
        ),
        ("INSTAGRAM_APP_SECRET", "sandbox-app-secret"),
        ("INSTAGRAM_APP_ID", "sandbox-app-id"),
        ("INSTAGRAM_WEBHOOK_VERIFY_TOKEN", "sandbox-verify-token"),
    ],
)
def test_the_demos_published_values_are_refused_even_when_set(tmp_path: Path, name: str, demo_value: str) -> None:
    env = production_env(tmp_path)
    env[name] = demo_value
    result = settings_of(env)
    assert result.returncode != 0
    assert f"{name} is the demo's published value" in result.stderr


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("INSTAGRAM_GRAPH_URL", "http://127.0.0.1:8001"),
        ("INSTAGRAM_GRAPH_URL", "http://graph.instagram.com"),
        ("INSTAGRAM_GRAPH_URL", "https://localhost:8001"),
        ("INSTAGRAM_GRAPH_URL", "https://10.0.0.5"),
        ("INSTAGRAM_OAUTH_AUTHORIZE_URL", "http://127.0.0.1:8001/oauth/authorize"),
        ("INSTAGRAM_OAUTH_TOKEN_URL", "https://[::1]/oauth/access_token"),
    ],
)
def test_local_instagram_urls_are_refused_unless_the_sandbox_is_meant(tmp_path: Path, name: str, url: str) -> None:
    env = production_env(tmp_path)
    env[name] = url
    refused = settings_of(env)
    assert refused.returncode != 0
    assert f"{name}={url!r} is not Meta's" in refused.stderr
    env["INSTAGRAM_SANDBOX"] = "true"
    assert settings_of(env).returncode == 0


def test_the_sandbox_meant_outside_debug_defaults_to_it(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    env.update(INSTAGRAM_SANDBOX="true", SANDBOX_URL="http://127.0.0.1:8123")
    result = settings_of(env)
    assert result.returncode == 0, result.stderr
    debug, sandbox, graph, authorize, token = result.stdout.strip().split("|")
    assert (debug, sandbox, graph) == ("False", "True", "http://127.0.0.1:8123")
    assert authorize == "http://127.0.0.1:8123/oauth/authorize" and token == "http://127.0.0.1:8123/oauth/access_token"


@pytest.mark.django_db
def test_demo_setup_refuses_to_run_in_production(settings: object) -> None:
    settings.DEBUG = False  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="runs only in demo mode"):
        call_command("demo_setup", stdout=StringIO())
    assert not User.objects.exists()


TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def test_no_template_of_the_web_app_has_an_inline_script_or_handler() -> None:
    """The policy refuses inline scripts; one left in a template would silently stop working.

    The sandbox's pages are Instagram's stand-in, served by their own server without the product's
    middleware (sandbox/server.py): they are not the product's pages.
    """
    offenders = []
    for folder in TEMPLATE_DIRS:
        if folder.parent.name == "sandbox":
            continue
        for template in folder.rglob("*.html"):
            text = template.read_text()
            for pattern in (INLINE_SCRIPT, INLINE_HANDLER, JAVASCRIPT_URL):
                offenders += [f"{template.relative_to(ROOT)}: {match.group(0)}" for match in pattern.finditer(text)]
    assert offenders == []


def csp_directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_scripts(client: Client, make_user: object) -> None:
    user = make_user()  # type: ignore[operator]
    client.force_login(user)
    for path in ("/accounts/login/", "/"):
        response = client.get(path)
        directives = csp_directives(response["Content-Security-Policy"])
        assert directives["script-src"] == ["'self'"], path
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_the_admin_alone_may_evaluate_alpine_expressions_but_never_run_inline_scripts(
    admin_client: Client,
) -> None:
    response = admin_client.get("/admin/")
    script_src = csp_directives(response["Content-Security-Policy"])["script-src"]
    assert sorted(script_src) == ["'self'", "'unsafe-eval'"]
