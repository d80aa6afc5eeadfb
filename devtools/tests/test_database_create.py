"""The benchmarks' first step: the PostgreSQL database of a DATABASE_URL is created when missing."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from django.db import connection

from devtools.database_create import database_create_missing


def test_a_sqlite_url_needs_no_server(tmp_path) -> None:
    assert database_create_missing(f"sqlite:///{tmp_path / 'bench.sqlite3'}") is False


@pytest.mark.django_db
def test_a_missing_postgresql_database_is_created_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL server the suite runs on")
    params = connection.get_connection_params()
    name = f"instaforge_create_{uuid.uuid4().hex[:10]}"
    host, port, user = params.get("host") or "127.0.0.1", params.get("port") or 5432, params.get("user") or "postgres"
    url = f"postgres://{user}@{host}:{port}/{name}"
    try:
        assert database_create_missing(url) is True
        assert database_create_missing(url) is False  # it exists now
        with psycopg.connect(host=host, port=port, user=user, dbname=name) as created:
            assert created.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(host=host, port=port, user=user, dbname="postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}"')
