"""The database connection as the settings configure it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from actions.models import Action


@pytest.mark.django_db
def test_postgresql_prepares_a_statement_run_often_and_plans_it_once() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    connection.ensure_connection()
    assert connection.connection.prepare_threshold == 5
    for _ in range(7):
        list(Action.all_workspaces.filter(state="planned", due_at__isnull=True)[:1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%actions_action%"])
        prepared = [row[0] for row in cursor.fetchall()]
    assert any('"actions_action"."due_at" IS NULL' in statement for statement in prepared)


def test_connections_are_kept_between_requests_on_every_database(settings: Any) -> None:
    # The sandbox's and the web server's threads keep theirs: opening one cost more than a request.
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 60
