"""deploy/systemd: the units start the release before every process, stop each one gracefully, and name
commands that exist. tests/test_production_setup.py runs the same commands as processes; this checks the
units' wiring, and systemd-analyze checks their syntax where it is installed."""

from __future__ import annotations

import configparser
import runpy
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
RELEASE = "instaforge-release.service"
PROCESSES = ("instaforge-web.service", "instaforge-worker.service", "instaforge-dispatcher@.service")
PYTHON = "/opt/instaforge/.venv/bin/python"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def seconds(value: str) -> float:
    return float(value.removesuffix("s")) if not value.endswith("min") else float(value.removesuffix("min")) * 60


def test_the_units_are_all_there() -> None:
    assert sorted(path.name for path in UNITS.iterdir()) == sorted([*PROCESSES, RELEASE, "instaforge.target"])


@pytest.mark.parametrize("name", [*PROCESSES, RELEASE])
def test_every_unit_runs_as_the_app_user_with_the_env_file_and_belongs_to_the_target(name: str) -> None:
    parsed = unit(name)
    service = parsed["Service"]
    assert (service["User"], service["Group"]) == ("instaforge", "instaforge")
    assert service["EnvironmentFile"] == "/etc/instaforge/env"
    assert service["WorkingDirectory"] == "/opt/instaforge"
    assert parsed["Unit"]["PartOf"] == "instaforge.target"
    assert parsed["Install"]["WantedBy"] == "instaforge.target"


@pytest.mark.parametrize("name", PROCESSES)
def test_each_process_waits_for_the_release_and_stops_gracefully(name: str) -> None:
    parsed = unit(name)
    assert RELEASE in parsed["Unit"]["Requires"].split()
    assert RELEASE in parsed["Unit"]["After"].split()
    service = parsed["Service"]
    # SIGTERM to the main process alone: gunicorn's master, django-q2's cluster and the dispatcher each
    # finish their work in flight (django-q2's workers die at once on a SIGTERM of their own).
    assert (service["KillSignal"], service["KillMode"]) == ("SIGTERM", "mixed")
    assert service["Restart"] == "on-failure"


def test_the_release_is_a_oneshot_that_stays_active() -> None:
    service = unit(RELEASE)["Service"]
    assert (service["Type"], service["RemainAfterExit"]) == ("oneshot", "yes")
    assert service["ExecStart"] == f"{PYTHON} manage.py release"
    assert service["RuntimeDirectory"] == "instaforge/prometheus"  # PROMETHEUS_MULTIPROC_DIR in .env.example
    assert "PROMETHEUS_MULTIPROC_DIR=/run/instaforge/prometheus" in (ROOT / "deploy" / ".env.example").read_text()


def test_the_stop_timeouts_outlast_the_work_in_flight() -> None:
    gunicorn = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    web = unit("instaforge-web.service")["Service"]
    assert web["ExecStart"] == "/opt/instaforge/.venv/bin/gunicorn -c deploy/gunicorn.conf.py instaforge.wsgi"
    assert seconds(web["TimeoutStopSec"]) > gunicorn["graceful_timeout"]
    worker = unit("instaforge-worker.service")["Service"]
    assert seconds(worker["TimeoutStopSec"]) > int(settings.Q_CLUSTER["timeout"])  # type: ignore[call-overload]
    dispatcher = unit("instaforge-dispatcher@.service")["Service"]
    # A send in flight: one write (never retried once it may have been sent), or a read retried twice.
    assert seconds(dispatcher["TimeoutStopSec"]) > 3 * settings.INSTAGRAM_HTTP_TIMEOUT


@pytest.mark.parametrize(
    ("name", "command"),
    [(RELEASE, "release"), ("instaforge-worker.service", "qcluster"), ("instaforge-dispatcher@.service", "dispatch")],
)
def test_the_units_commands_exist(name: str, command: str) -> None:
    assert unit(name)["Service"]["ExecStart"] == f"{PYTHON} manage.py {command}"
    assert command in get_commands()


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for path in UNITS.iterdir():
        # The executables exist on a deployed host only: this machine's stand in for them.
        text = path.read_text().replace(PYTHON, str(shutil.which("python3") or "/usr/bin/python3"))
        text = text.replace("/opt/instaforge/.venv/bin/gunicorn", str(shutil.which("true") or "/bin/true"))
        (tmp_path / path.name).write_text(text)
    result = subprocess.run(  # noqa: S603 (systemd's own tool on our files)
        [analyze, "verify", "--man=no", *sorted(str(path) for path in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.stdout + result.stderr == "", result.stdout + result.stderr


def test_the_background_processes_yield_the_cpu_to_the_web_and_the_benchmark_runs_them_so() -> None:
    """Under overload the webhooks' acks come first; bench/pipeline.py measures the deployed priorities."""
    assert "Nice" not in unit("instaforge-web.service")["Service"]
    for name in ("instaforge-worker.service", "instaforge-dispatcher@.service"):
        assert unit(name)["Service"]["Nice"] == "10"
    pipeline = runpy.run_path(str(ROOT / "bench" / "pipeline.py"), run_name="pipeline")
    assert pipeline["BACKGROUND_NICE"] == 10
