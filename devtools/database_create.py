"""The benchmarks' first step: the database a ``DATABASE_URL`` names, created when missing, then migrated.

Needs no Django setup: the URL is parsed as the settings parse it (django-environ),
and the server is asked through its maintenance database ``postgres``, with the
same host, port, user and password.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import environ
import psycopg
from psycopg import sql


def database_create_missing(url: str) -> bool:
    """Create the database of ``url`` when it is PostgreSQL's and missing. Returns whether it was created."""
    config = environ.Env.db_url_config(url)
    if "postgresql" not in str(config["ENGINE"]):
        return False
    name = str(config["NAME"])
    connect: dict[str, Any] = {
        "dbname": "postgres",
        "host": config.get("HOST") or None,
        "port": config.get("PORT") or None,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    given = {key: value for key, value in connect.items() if value is not None}
    with psycopg.connect(autocommit=True, **given) as server:
        if server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def database_ready(env: Mapping[str, str], *, root: Path) -> None:
    """Create the database of ``env["DATABASE_URL"]`` when missing, then migrate it (``manage.py`` under ``root``)."""
    database_create_missing(env["DATABASE_URL"])
    manage = [sys.executable, str(root / "manage.py"), "migrate", "--noinput", "-v0"]
    subprocess.run(manage, check=True, env=dict(env), cwd=root)  # noqa: S603 (our own manage.py, fixed arguments)
