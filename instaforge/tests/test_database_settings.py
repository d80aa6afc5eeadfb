"""The database connection as the settings configure it."""

from __future__ import annotations

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
