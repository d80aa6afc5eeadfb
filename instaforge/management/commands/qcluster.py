"""``manage.py qcluster``: django-q2's cluster, started so that the processes it forks share their memory.

django-q2's cluster forks (multiprocessing's "fork", django_q/cluster.py ``get_mp_context``): its main process
forks the sentinel, which forks the workers, the monitor and the pusher. A forked child shares its parent's
pages until either writes to them (copy-on-write), so what the parent loads before the forks is held once
for the whole cluster, and what each child loads after is held once per child. This command, replacing
django-q2's own (``instaforge`` comes before ``django_q`` in INSTALLED_APPS), therefore:

- skips Django's system checks: ``manage.py release`` runs them (``check --deploy``) before any process of a
  release starts (deploy/systemd), and here they would import the URLconf and every view (about 12 MiB) into
  a process that serves no page;
- loads, in the main process, what every child would otherwise load on its first task: the apps' task
  modules, the broker's module, VADER's lexicon (``cluster_preload``);
- freezes the garbage collector's view of the parent's objects just before each fork (``gc.freeze``): a
  collection writes into the header of every object it examines, which would copy the shared pages into
  each child; frozen objects are never examined again, in the parent or the children.

Measured with bench/pipeline.py (issue 23, docs/performance.md "Memory").
"""

from __future__ import annotations

import gc
import os
from typing import Any

from django.conf import settings
from django.utils.module_loading import autodiscover_modules
from django_q.management.commands.qcluster import Command as DjangoQClusterCommand

from instaforge.schedules import SCHEDULES
from instaforge.text import sentiment_score


def cluster_preload() -> None:
    """Import what the cluster's children run, once, in the process they are forked from.

    Every app's ``tasks`` module and the module of every scheduled function (the tasks a worker runs; django-q2
    imports a task's function on its first call), the broker's module (the sentinel makes the broker), and
    VADER's lexicon (``instaforge.text``: built on first use, a few MiB, needed by every comment and DM).
    """
    autodiscover_modules("tasks")
    for spec in SCHEDULES:
        __import__(spec.func.rsplit(".", 1)[0])
    __import__("django_q.brokers.redis_broker" if "redis" in settings.Q_CLUSTER else "django_q.brokers.orm")
    sentiment_score(text="ready")


class Command(DjangoQClusterCommand):
    # Run by the release instead (module docstring).
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        cluster_preload()
        # Before every fork of this process and of its children (the registration is inherited).
        os.register_at_fork(before=gc.freeze)
        super().handle(*args, **options)
