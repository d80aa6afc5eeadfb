"""``manage.py release``: safe on every deploy (a second run changes nothing), and stopped by a deploy check error
before it touches the database."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import checks
from django.core.checks.registry import registry
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django_q.models import Schedule

from instaforge.schedules import SCHEDULES


def release(**options: Any) -> str:
    out = StringIO()
    call_command("release", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def static_root(settings: Any, tmp_path: Path) -> Path:
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    return settings.STATIC_ROOT


@pytest.mark.django_db
def test_release_twice_applies_then_keeps_everything(static_root: Path) -> None:
    first = release()
    assert first.splitlines()[0] == "release: check --deploy"
    assert "release: done" in first
    assert set(Schedule.objects.values_list("name", flat=True)) >= {spec.name for spec in SCHEDULES}
    copied = sorted(path.relative_to(static_root) for path in static_root.rglob("*") if path.is_file())
    assert copied, "collectstatic copied nothing"
    schedules = list(Schedule.objects.order_by("pk").values_list("pk", "name", "func", "minutes"))

    second = release()
    assert "No migrations to apply." in second
    assert "created:" not in second and "removed:" not in second  # schedules_sync kept every schedule
    assert "0 static files copied" in second
    assert list(Schedule.objects.order_by("pk").values_list("pk", "name", "func", "minutes")) == schedules
    assert sorted(path.relative_to(static_root) for path in static_root.rglob("*") if path.is_file()) == copied


@pytest.fixture
def failing_deploy_check() -> Iterator[None]:
    def misconfigured(**kwargs: Any) -> list[checks.CheckMessage]:
        return [checks.Error("misconfigured for the test", id="instaforge.E999")]

    registry.register(misconfigured, deploy=True)
    try:
        yield
    finally:
        registry.deployment_checks.discard(misconfigured)


@pytest.mark.django_db
def test_a_deploy_check_error_stops_the_release_before_the_database(
    static_root: Path, failing_deploy_check: None
) -> None:
    Schedule.objects.all().delete()
    out = StringIO()
    with pytest.raises(SystemCheckError, match=r"instaforge\.E999"):
        call_command("release", stdout=out, stderr=StringIO())
    assert "release: migrate" not in out.getvalue()
    assert not Schedule.objects.exists()
    assert not static_root.exists()
