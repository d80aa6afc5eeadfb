"""The retention settings refuse at start a period that would break a guarantee (instaforge/settings.py).

Each case starts a fresh Python process (settings are read once per process), as
instaforge/tests/test_production_settings.py does, with the demo's DEBUG=true so no production secret is needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT_RETENTION = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.RETENTION_DEDUPE_MIN_DAYS, s.RETENTION_INBOUND_EVENTS_DAYS, s.RETENTION_ACTIONS_DAYS, sep='|')"
)


def settings_with(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "instaforge.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'settings.sqlite3'}",
        **environment,
    }
    return subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", PRINT_RETENTION], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_the_defaults_start(tmp_path: Path) -> None:
    result = settings_with(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "3|30|365"  # 36 h of Meta's retries and a day of margin, rounded up


@pytest.mark.parametrize(
    "name",
    ["RETENTION_INBOUND_EVENTS_DAYS", "RETENTION_COMMENTS_DAYS", "RETENTION_MESSAGES_DAYS", "RETENTION_ACTIONS_DAYS"],
)
def test_a_period_under_metas_redelivery_horizon_is_refused(tmp_path: Path, name: str) -> None:
    result = settings_with(tmp_path, **{name: "2"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"{name}=2 is too short: at least 3 days" in result.stderr
    assert "INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS" in result.stderr


def test_the_minimum_follows_the_horizon(tmp_path: Path) -> None:
    longer = {"INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS": "72"}
    refused = settings_with(tmp_path, RETENTION_INBOUND_EVENTS_DAYS="3", **longer)
    assert refused.returncode != 0 and "at least 4 days" in refused.stderr
    accepted = settings_with(tmp_path, RETENTION_INBOUND_EVENTS_DAYS="4", **longer)
    assert accepted.returncode == 0, accepted.stderr
    assert accepted.stdout.strip().startswith("4|4|")


def test_safety_events_are_kept_as_long_as_the_risk_score_reads_them(tmp_path: Path) -> None:
    result = settings_with(tmp_path, RETENTION_SAFETY_EVENTS_DAYS="1")
    assert result.returncode != 0 and "RETENTION_SAFETY_EVENTS_DAYS=1 is too short" in result.stderr


def test_0_keeps_forever_and_a_negative_period_is_refused(tmp_path: Path) -> None:
    forever = settings_with(tmp_path, RETENTION_INBOUND_EVENTS_DAYS="0", RETENTION_ACTIONS_DAYS="0")
    assert forever.returncode == 0, forever.stderr
    assert forever.stdout.strip() == "3|0|0"
    negative = settings_with(tmp_path, RETENTION_DECISIONS_DAYS="-1")
    assert negative.returncode != 0 and "RETENTION_DECISIONS_DAYS=-1" in negative.stderr


def test_a_run_must_end_before_the_worker_kills_it(tmp_path: Path) -> None:
    result = settings_with(tmp_path, RETENTION_MAX_SECONDS="60")
    assert result.returncode != 0 and "below the task timeout" in result.stderr
    result = settings_with(tmp_path, RETENTION_BATCH_SIZE="0")
    assert result.returncode != 0 and "RETENTION_BATCH_SIZE=0" in result.stderr
