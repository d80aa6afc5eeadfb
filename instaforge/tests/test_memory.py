"""Issue 23, the memory of InstaForge's processes (docs/performance.md, "Memory"): what keeps it down.

- gunicorn (deploy/gunicorn.conf.py) loads the product in its master, imports the URLconf there and freezes
  the master's objects before each fork, so that its workers share those pages;
- django-q2's cluster (``manage.py qcluster``, InstaForge's command) skips the system checks, loads the
  task modules before it forks and freezes the garbage collector's view of them first;
- a heavy library that only some code paths need is imported by them (Lingua, Pillow), and a pattern that cost
  megabytes in every process costs a few hundred kilobytes.

What a process imports and freezes is checked in a fresh interpreter (``python -c``): the test process has
imported everything already, and a frozen object stays frozen for good.
"""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import ModuleType

import psutil
import pytest
import re2
from django.core.management import get_commands, load_command_class

from engagement.spam import _TAG, spam_reason

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def python(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter with the suite's settings; the JSON object it printed last."""
    result = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- gunicorn -----------------------------------------------------------------------------------


def test_gunicorn_loads_the_application_in_its_master() -> None:
    config = runpy.run_path(str(GUNICORN_CONF))
    assert config["preload_app"] is True
    assert callable(config["pre_fork"])


def test_gunicorn_imports_the_urlconf_and_freezes_the_master_before_forking_a_worker() -> None:
    # The master as gunicorn runs it: the configuration read, the application loaded (preload_app), then
    # pre_fork before each worker's fork.
    seen = python(
        f"""
        import gc, json, runpy, sys
        from types import SimpleNamespace
        config = runpy.run_path({str(GUNICORN_CONF)!r})
        from instaforge.wsgi import application
        before = {{"urlconf": "instaforge.urls" in sys.modules, "frozen": gc.get_freeze_count()}}
        server = SimpleNamespace(cfg=SimpleNamespace(preload_app=True))
        config["pre_fork"](server, None)
        after = {{"urlconf": "instaforge.urls" in sys.modules, "frozen": gc.get_freeze_count()}}
        from django.db import connections
        # A connection opened in the master would be one socket shared by every worker.
        opened = [connection.alias for connection in connections.all() if connection.connection is not None]
        print(json.dumps({{"before": before, "after": after, "connections_in_master": opened}}))
        """
    )
    assert seen["before"] == {"urlconf": False, "frozen": 0}
    after = seen["after"]
    assert isinstance(after, dict) and after["urlconf"] is True
    assert after["frozen"] > 10_000  # Django and the product: tens of thousands of objects
    assert seen["connections_in_master"] == []


def test_without_preloading_pre_fork_imports_nothing_in_the_master() -> None:
    # `gunicorn --no-preload`: the master has no Django to import the URLconf with; it must still fork.
    seen = python(
        f"""
        import json, runpy, sys
        from types import SimpleNamespace
        config = runpy.run_path({str(GUNICORN_CONF)!r})
        config["pre_fork"](SimpleNamespace(cfg=SimpleNamespace(preload_app=False)), None)
        print(json.dumps({{"django": "django.urls" in sys.modules}}))
        """
    )
    assert seen == {"django": False}


# --- django-q2's cluster ------------------------------------------------------------------------


def test_qcluster_is_instaforges_command_and_skips_the_system_checks() -> None:
    assert get_commands()["qcluster"] == "instaforge"
    command = load_command_class("instaforge", "qcluster")
    # The release runs them (`manage.py release`); here they would import every view into the cluster.
    assert command.requires_system_checks == []
    # Still django-q2's command: its options and its cluster.
    options = {action.dest for action in command.create_parser("manage.py", "qcluster")._actions}
    assert {"run_once", "cluster_name"} <= options


def test_the_dispatcher_skips_the_system_checks_the_release_runs() -> None:
    """As the cluster: they would import the URLconf and every view into each dispatcher (about 13 MiB)."""
    assert load_command_class("actions", "dispatch").requires_system_checks == []


def test_the_cluster_loads_its_tasks_and_freezes_before_it_forks() -> None:
    # handle() up to the cluster's start (django-q2's own handle, which forks, replaced): what the forked
    # processes inherit, and the garbage collector frozen by the fork itself.
    seen = python(
        """
        import gc, json, os, sys
        import django
        django.setup()
        from django_q.management.commands.qcluster import Command as DjangoQ
        from instaforge.management.commands.qcluster import Command
        DjangoQ.handle = lambda self, *args, **options: None
        before = sorted(name for name in ("instagram.tasks", "messaging.tasks", "alerts.tasks") if name in sys.modules)
        Command().handle()
        loaded = sorted(
            name for name in ("instagram.tasks", "messaging.tasks", "alerts.tasks", "instaforge.maintenance",
            "privacy.retention") if name in sys.modules
        )
        vader = "vaderSentiment.vaderSentiment" in sys.modules
        frozen_before_fork = gc.get_freeze_count()
        pid = os.fork()
        if pid == 0:
            os._exit(0 if gc.get_freeze_count() > 10_000 else 1)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({
            "before": before, "loaded": loaded, "vader": vader, "frozen_before_fork": frozen_before_fork,
            "frozen_in_parent": gc.get_freeze_count(), "child_saw_frozen": os.waitstatus_to_exitcode(status) == 0,
        }))
        """
    )
    assert seen["before"] == []
    assert seen["loaded"] == [
        "alerts.tasks",
        "instaforge.maintenance",
        "instagram.tasks",
        "messaging.tasks",
        "privacy.retention",
    ]
    assert seen["vader"] is True
    assert seen["frozen_before_fork"] == 0  # nothing frozen until a fork...
    frozen = seen["frozen_in_parent"]
    assert isinstance(frozen, int) and frozen > 10_000  # ...then everything the parent had, before it forked
    assert seen["child_saw_frozen"] is True


# --- lazy imports and small patterns ------------------------------------------------------------


def test_lingua_and_pillow_are_imported_only_by_the_code_that_uses_them() -> None:
    seen = python(
        """
        import json, sys
        import instaforge.wsgi  # Django and every app, as a web process loads them
        import engagement.services, actions.dispatcher.loop  # the cluster's and the dispatcher's own paths
        import publishing.services, privacy.erasure  # they import publishing.mediainfo
        at_start = sorted(name for name in ("lingua", "PIL") if name in sys.modules)
        from instaforge.text import language_of
        language = language_of(text="where is the bakery, please?")
        from publishing.mediainfo import image_info
        from publishing.samples import sample_jpeg
        image = image_info(sample_jpeg(width=64, height=48).stream)
        print(json.dumps({
            "at_start": at_start, "language": language, "image": [image.kind, image.width, image.height],
            "after": sorted(name for name in ("lingua", "PIL") if name in sys.modules),
        }))
        """
    )
    assert seen == {"at_start": [], "language": "en", "image": ["image", 64, 48], "after": ["PIL", "lingua"]}


def test_the_mass_tagging_pattern_is_small_and_counts_as_before() -> None:
    # The bounded form it replaces ({1,30}, a username's longest): ~42,000 instructions, 3.5 MiB a process.
    assert _TAG.programsize < 5_000
    bounded = re2.compile(r"(?:^|[^\pL\pN_.])(@[\pL\pN_.]{1,30})")
    texts = [
        "@a @b.c @d_e @f",
        "@" + "x" * 45 + " @b @c @d",
        "@" + "x" * 45 + "-@b @c",
        "write to me at hello@bakery",
        "@é @日本 (@ü) x.@no @sí",
        "@@a @ @b",
    ]
    for text in texts:
        assert len(_TAG.findall(text)) == len(bounded.findall(text)), text
    assert spam_reason(text="@" + "a" * 40 + " @b @c @d") == "4 accounts tagged at once"


def test_the_mass_tagging_pattern_runs_without_re2_giving_up(capfd: pytest.CaptureFixture[str]) -> None:
    # RE2 wrote "DFA out of memory" to standard error on each search with the bounded pattern.
    assert spam_reason(text="@a @b @c @d and @e") == "5 accounts tagged at once"
    assert "DFA out of memory" not in capfd.readouterr().err


# --- the benchmark's breakdown ------------------------------------------------------------------


def bench_pipeline() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "pipeline.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_names_each_process_it_measures() -> None:
    pipeline = bench_pipeline()
    # A master with two children, as gunicorn's.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; children = [subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(30)']) for _ in range(2)]; time.sleep(30)",
        ]
    )
    try:
        root = psutil.Process(parent.pid)
        for _ in range(100):
            if len(root.children()) == 2:
                break
            time.sleep(0.05)
        sizes = pipeline.process_tree_pss({"web": parent})
        assert sorted(sizes) == ["web master", "web worker 1", "web worker 2"]
        assert all(size > 0 for size in sizes.values())
        sampler = pipeline.PssSampler({"web": parent})
        sampler.start()
        peak = sampler.stop()
        assert peak == sum(sampler.peak_members.values()) > 0
        assert list(sampler.by_process()) == ["web"]
        assert sorted(sampler.by_member()) == ["web master", "web worker 1", "web worker 2"]
    finally:
        for child in psutil.Process(parent.pid).children():
            child.kill()
        parent.kill()
        parent.wait()
