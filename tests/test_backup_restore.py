"""Backups end to end, on PostgreSQL: deploy/backup.sh dumps a database with data in it; deploy/restore-check.sh
restores the dump into a fresh database, checks its secrets with the keys kept apart and serves it from the
web app (gunicorn, DEBUG off); with the wrong keys it fails, naming the cause. docs/operations.md, "Backups
and restore". The command it relies on is tested alone in accounts/tests/test_tokens_check.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import psycopg
import psycopg.sql
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from accounts.models import Workspace
from tests.factories import CommentFactory, InstagramAccountFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        settings.DATABASE_VENDOR != "postgresql",
        reason="pg_dump and pg_restore need PostgreSQL: run with DATABASE_URL=postgres://… (CI's PostgreSQL leg does)",
    ),
]

DEPLOY = Path(settings.BASE_DIR) / "deploy"
BASH = shutil.which("bash") or "/bin/bash"
TOKEN = "ig-token-to-restore"  # noqa: S105 (a stand-in, encrypted like a real one)


def database_url() -> str:
    """The test database's URL, as DATABASE_URL would name it."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{port}/{db['NAME']}"


def run(script: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """A deploy script as an operator runs it, the database's server in DATABASE_URL and nothing of the suite's."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "TOKEN_ENCRYPTION_KEYS", "SECRET_KEY"}
    }
    environment["DATABASE_URL"] = database_url()
    return subprocess.run(  # noqa: S603 (the repository's own scripts)
        [BASH, str(DEPLOY / script), *map(str, args)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def env_file(path: Path, *, keys: str) -> Path:
    """A production environment file (deploy/.env.example's format) holding these TOKEN_ENCRYPTION_KEYS."""
    path.write_text(
        "# the secrets kept apart from the dumps\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"TOKEN_ENCRYPTION_KEYS={keys}\n"
        "ALLOWED_HOSTS=app.example.com\n"
        "SITE_URL=https://app.example.com\n"
        "CSRF_TRUSTED_ORIGINS=https://app.example.com\n"
        "INSTAGRAM_APP_ID=1234567890\n"
        f'INSTAGRAM_APP_SECRET="{secrets.token_hex(16)}"\n'
        f"INSTAGRAM_WEBHOOK_VERIFY_TOKEN='{secrets.token_hex(8)}'\n"
        "ADMINS=Ops <ops@example.com>\n"
    )
    return path


def restored_database(output: str) -> str:
    match = re.search(r"fresh database (instaforge_restore_\w+)", output)
    assert match, output
    return match.group(1)


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("select 1 from pg_database where datname = %s", [name])
        return cursor.fetchone() is not None


def restored_count(database: str, table: str) -> int:
    """Rows in a table of the restored database (the suite's connection is to its own test database)."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=database, user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or 5432
    ) as restored:
        row = restored.execute(
            psycopg.sql.SQL("select count(*) from {}").format(psycopg.sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def dump(transactional_db: None, settings, tmp_path: Path, workspace: Workspace) -> tuple[Path, str, int]:
    """A backup of a database with two accounts (encrypted tokens) and comments: (the dump, its key, an account id)."""
    key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key]
    account = InstagramAccountFactory.create(workspace=workspace, token=TOKEN)
    InstagramAccountFactory(workspace=workspace)
    CommentFactory.create_batch(3, account=account)

    backup = run("backup.sh", tmp_path / "dumps")

    assert backup.returncode == 0, backup.stdout + backup.stderr
    [dumped] = (tmp_path / "dumps").glob("instaforge-*.dump")
    digest, name = Path(f"{dumped}.sha256").read_text().split()
    assert (digest, name) == (hashlib.sha256(dumped.read_bytes()).hexdigest(), dumped.name)  # sha256sum -c reads it
    assert "never in the same place as the dumps" in backup.stdout
    assert "must be reconnected" in backup.stdout
    assert "TOKEN_ENCRYPTION_KEYS" in backup.stdout and "MEDIA_ROOT" in backup.stdout
    return dumped, key, account.pk


def test_a_backup_restores_into_a_fresh_database_that_the_web_app_serves_with_its_keys(
    dump: tuple[Path, str, int], tmp_path: Path
) -> None:
    dumped, key, _ = dump

    check = run("restore-check.sh", "--keep", dumped, env_file(tmp_path / "production.env", keys=key))

    output = check.stdout + check.stderr
    database = restored_database(output)
    try:
        assert check.returncode == 0, output
        assert "checksum matches" in output
        assert "Instagram access tokens): 2 stored, 2 decrypt, 0 do not" in output
        assert "/healthz: 200 ok" in output
        assert "/readyz: the database answers and no migration is unapplied" in output
        assert "/metrics: the web app reads the 2 Instagram account(s) of the restored database" in output
        assert "PASSED" in output
        assert restored_count(database, "engagement_comment") == 3
        assert TOKEN not in output
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"drop database if exists {connection.ops.quote_name(database)} with (force)")

    # Without --keep the check leaves nothing behind.
    again = run("restore-check.sh", dumped, tmp_path / "production.env")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not database_exists(restored_database(again.stdout))


def test_a_backup_restored_with_the_wrong_keys_fails_naming_the_cause(
    dump: tuple[Path, str, int], tmp_path: Path
) -> None:
    dumped, _, account_id = dump
    wrong = env_file(tmp_path / "wrong.env", keys=Fernet.generate_key().decode())

    check = run("restore-check.sh", dumped, wrong)

    assert check.returncode != 0
    assert "Instagram access tokens): 2 stored, 0 decrypt, 2 do not" in check.stdout
    assert re.search(rf"do not decrypt: rows #{account_id}, #\d+\n", check.stdout), check.stdout
    assert "none of the 2 stored secret(s) decrypts with the configured TOKEN_ENCRYPTION_KEYS" in check.stderr
    assert f"FAILED: stored secrets do not decrypt with the TOKEN_ENCRYPTION_KEYS given in {wrong}" in check.stderr
    assert "Starting the web app" not in check.stdout  # it stops at the first failure
    assert TOKEN not in check.stdout + check.stderr
    assert not database_exists(restored_database(check.stdout))


def test_a_damaged_dump_fails_before_anything_is_restored(dump: tuple[Path, str, int], tmp_path: Path) -> None:
    dumped, key, _ = dump
    with dumped.open("ab") as file:
        file.write(b"\0")

    check = run("restore-check.sh", dumped, env_file(tmp_path / "production.env", keys=key))

    assert check.returncode != 0
    assert "FAILED: the dump does not match its checksum" in check.stderr
    assert "fresh database" not in check.stdout
