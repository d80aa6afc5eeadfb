"""gunicorn's configuration for InstaForge's web processes: `gunicorn -c deploy/gunicorn.conf.py instaforge.wsgi`.

Threaded workers (``gthread``), not gunicorn's default sync ones. Meta, load balancers and proxies keep
connections open between requests; a sync worker answers ``Connection: close`` to every request and, while
a client holds an idle connection to it, serves no one else until ``timeout``. Measured on this project (issue
22): 57 of 100 signed webhooks acked at 10/s from a client that reuses connections with sync workers,
100 of 100 with these. A gthread worker parks idle kept-alive connections in its poller and closes them after
``keepalive`` seconds, so they cost no thread.

The application is loaded once, in the master, before the workers are forked (``preload_app``), and the
master's objects are frozen out of the garbage collector's sight just before each fork: the workers share
the master's memory instead of each importing Django and the product again (issue 23: PSS, below). The
price: ``systemctl reload`` (SIGHUP) re-reads this file and replaces the workers, but they are forked from
the same master and so run the code it loaded; a new release needs ``systemctl restart`` (deploy/README.md).

Every value an operator may change comes from the environment (the same file every process reads,
deploy/.env.example): ``GUNICORN_BIND``, ``GUNICORN_WORKERS``, ``GUNICORN_THREADS``, ``GUNICORN_KEEPALIVE``.
gunicorn's own lines (its master's and the access log) go through the product's log handlers: JSON lines
in production (``LOG_FORMAT``), secrets redacted, to standard error (standard output for the access log).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import environ
from prometheus_client import multiprocess

_ROOT = Path(__file__).resolve().parent.parent
env = environ.Env()
# The file the settings read too (instaforge/settings.py): values already in the environment win.
environ.Env.read_env(_ROOT / ".env", overwrite=False)

bind = env.list("GUNICORN_BIND", default=["127.0.0.1:8000"])
worker_class = "gthread"
# One worker per core, a few threads each: a webhook's ack is a short database write, the threads carry
# the concurrency. Each thread keeps its own database connection (CONN_MAX_AGE): workers x threads per host.
workers = env.int("GUNICORN_WORKERS", default=2)
threads = env.int("GUNICORN_THREADS", default=4)
# Import the product in the master: each forked worker then shares those pages (modules, Django's registries,
# the URL patterns) with the master and the other workers instead of holding a copy of its own. Measured on
# this project (bench/pipeline.py, issue 23, with the URLconf imported in pre_fork below): the web processes'
# PSS (the master and 2 workers, each worker importing the product itself before) fell from 174 MiB to
# 103-112 MiB (docs/performance.md, "Memory").
preload_app = True
# A request that takes longer than this kills its worker (every view answers in well under a second; Meta
# gives up on a webhook after a few seconds anyway).
timeout = 30
# SIGTERM (systemd's stop, a deploy): requests in progress get this long to finish.
graceful_timeout = 30
# Seconds an idle kept-alive connection stays open. A proxy or load balancer in front that keeps its own
# upstream connections must close them sooner than this (e.g. nginx `keepalive_timeout 4s` in its upstream).
keepalive = env.int("GUNICORN_KEEPALIVE", default=5)
# The heartbeat files of the workers in memory, not on a disk that may stall.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (gunicorn's documented choice; nothing else writes there)
# No control socket (gunicorn 25+, in $HOME or $XDG_RUNTIME_DIR by default): systemd's signals stop and reload
# it, and two instances on one host (a test's, a benchmark's) would fight over one path.
control_socket_disable = True

# The access line: who, what, the status, the size, the time taken and the request's correlation id
# (X-Request-ID, set on every answer by instaforge.correlation), to follow a request into the product's logs.
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(a)s"'
errorlog = "-"
loglevel = env.str("LOG_LEVEL", default="INFO").lower()

_json = env.str("LOG_FORMAT", default="text" if env.bool("DEBUG", default=False) else "json") == "json"
_filters = ["redact_secrets", "log_context"]
# The product's formatters and filters (instaforge/settings.py, LOGGING): one format for every line of a
# host, and nothing secret in a request line (an OAuth callback's ?code=, a token in a query string).
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "instaforge.logfilters.SecretsRedactingFilter"},
        "log_context": {"()": "instaforge.correlation.LogContextFilter"},
    },
    "formatters": {
        "json": {"()": "instaforge.logfilters.JsonLogFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(log_context)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _json else "plain",
            "filters": _filters,
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _json else "plain",
            "filters": _filters,
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": loglevel.upper(), "handlers": ["console"]},
    "loggers": {
        # Not propagated: the workers' Django LOGGING puts a handler on the root too (each line once).
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
    },
}


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exited: prometheus-client's multiprocess mode drops its live gauges (PROMETHEUS_MULTIPROC_DIR).

    The product's own series are counters and histograms, which outlive their process on purpose (a
    host's totals keep what a recycled worker counted); this keeps any live gauge right as well.
    """
    if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
        multiprocess.mark_process_dead(worker.pid)


def pre_fork(server: Any, worker: Any) -> None:
    """Just before the master forks a worker: load what a request needs, then freeze the master's objects.

    With ``preload_app`` the master has loaded Django and the product, but Django imports the URLconf, and with
    it every view (allauth, the probes' Redis client...), only on the first request: done here, once, it is
    shared by every worker instead of being imported by each. Then ``gc.freeze``: CPython's collector writes
    into the header of every object it examines, so a worker's first full collection would copy nearly every
    page it shares with the master (copy-on-write). Frozen objects are never examined again, in the master or
    in its workers (the Python documentation of ``gc.freeze``); they are the modules and registries a process
    keeps for its whole life, so freezing them frees nothing that would otherwise be freed.
    """
    if server.cfg.preload_app:
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018 (imports the URLconf)
    gc.freeze()
