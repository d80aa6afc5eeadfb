"""`make up`'s worker (devtools/worker, the Procfile's) stops cleanly when honcho stops it.

honcho sends SIGTERM to a process's whole process group. Sent to `manage.py qcluster` itself, that killed its
worker processes under it and left it waiting forever, until honcho's SIGKILL 5 s later (and `make up` ended in an
error). devtools/worker hands the signal to qcluster's main process only, which stops its processes in order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from actions.tests.processes import ROOT, wait_until
from actions.tests.processes import test_database_url as database_url  # not collected as a test here

HONCHO_KILL_WAIT = 5  # honcho.manager.KILL_WAIT: seconds before SIGKILL


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_stops_on_sigterm_to_its_group_within_honchos_wait(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = dict(os.environ) | {"DEBUG": "true", "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO"}
    env.pop("REDIS_URL", None)  # the ORM broker: the test database
    with log.open("wb") as out:
        worker = subprocess.Popen(  # noqa: S603 (our own script)
            [str(ROOT / "devtools" / "worker")], cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
        )
    try:
        assert wait_until(lambda: "running." in log.read_text(), timeout=60), log.read_text()[-3000:]
        started = time.monotonic()
        os.killpg(worker.pid, signal.SIGTERM)  # as honcho stops a process
        returncode = worker.wait(timeout=HONCHO_KILL_WAIT)
        assert time.monotonic() - started < HONCHO_KILL_WAIT
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        for line in log.read_text().splitlines():  # nothing of qcluster's own left running
            if "ready for work at" in line:
                pid = int(line.rsplit(" ", 1)[-1])
                assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert returncode == 0, log.read_text()[-3000:]
    assert "has stopped." in log.read_text()
