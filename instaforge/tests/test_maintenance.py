"""Maintenance helpers."""

from __future__ import annotations

import pytest
from django.db import connection

from instaforge.maintenance import database_vacuum


@pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside a transaction
def test_the_database_is_vacuumed_on_postgresql_and_left_alone_elsewhere() -> None:
    assert database_vacuum() is (connection.vendor == "postgresql")
