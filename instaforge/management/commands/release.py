"""``python manage.py release``: everything a deploy does to the database and the files before processes start.

Safe to run on every deploy and on every host, as often as you like: each step leaves alone what is
already right (migrate applies only unapplied migrations, schedules_sync keeps matching schedules,
collectstatic copies only changed files). systemd runs it before the web, worker and dispatcher units
(deploy/systemd/instaforge-release.service).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

# One key for every InstaForge release on a PostgreSQL server (pg_advisory_lock takes a bigint).
RELEASE_LOCK_KEY = zlib.crc32(b"instaforge.release")


@contextmanager
def release_lock() -> Iterator[None]:
    """On PostgreSQL, one release at a time: several hosts starting together queue here.

    Django's migrate takes no lock of its own; two running at once can both try to apply the same
    migration. The second release finds everything applied once it gets the lock. A session lock,
    released when the block ends or the connection closes (a release killed mid-way holds nothing).
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [RELEASE_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELEASE_LOCK_KEY])


class Command(BaseCommand):
    help = (
        "Release steps for every deploy: check --deploy (fails on errors), migrate, schedules_sync, "
        "collectstatic. Idempotent."
    )

    # The first step runs the checks itself, with the deploy ones; a second run of the plain ones first
    # would only repeat them.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        # First, before anything changes: a configuration error (a missing setting the deploy checks find)
        # stops the release with the database untouched. Warnings are printed and do not fail it.
        self.stdout.write("release: check --deploy")
        call_command("check", deploy=True, fail_level="ERROR", stdout=self.stdout, stderr=self.stderr)
        with release_lock():
            self.stdout.write("release: migrate")
            call_command("migrate", interactive=False, verbosity=verbosity, stdout=self.stdout, stderr=self.stderr)
            self.stdout.write("release: schedules_sync")
            call_command("schedules_sync", verbosity=verbosity, stdout=self.stdout, stderr=self.stderr)
        self.stdout.write("release: collectstatic")
        call_command("collectstatic", interactive=False, verbosity=verbosity, stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(self.style.SUCCESS("release: done"))
