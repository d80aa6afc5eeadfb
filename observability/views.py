"""GET /healthz (liveness), /readyz (readiness, JSON) and /metrics (Prometheus text format). No login.

/metrics is open to a bearer token (``METRICS_TOKEN``) or to the networks in ``METRICS_ALLOWED_NETWORKS``;
with neither set it is closed (403) unless DEBUG is on.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from observability.collectors import DatabaseCollector
from observability.readiness import CHECKS, readiness_check

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers HTTP. No database, no broker."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503; the body names each check, failing ones in ``failing``.

    ``?check=database&check=broker`` runs only those (a load balancer's probe of one web host need not
    depend on the dispatchers).
    """
    asked = request.GET.getlist("check")
    unknown = [name for name in asked if name not in CHECKS]
    if unknown:
        return JsonResponse({"error": "unknown checks", "unknown": unknown[:10], "checks": list(CHECKS)}, status=400)
    results = readiness_check(names=asked or None)
    failing = [name for name, result in results.items() if not result.ok]
    body = {
        "status": "fail" if failing else "ok",
        "failing": failing,
        "checks": {name: {"ok": result.ok, "detail": result.detail} for name, result in results.items()},
    }
    return JsonResponse(body, status=503 if failing else 200)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """The process's (or, in multiprocess mode, the host's) counters and histograms, then the database's gauges."""
    if not metrics_allowed(request):
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    if settings.PROMETHEUS_MULTIPROC_DIR:
        host = CollectorRegistry()
        MultiProcessCollector(host, path=settings.PROMETHEUS_MULTIPROC_DIR)
        output = generate_latest(host)
    else:
        output = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector())
    try:
        output += generate_latest(database)
    except Exception:  # the process's own series still go out while the database is down
        logger.warning("The database's metrics could not be read", exc_info=True)
    return HttpResponse(output, content_type=CONTENT_TYPE_LATEST)


def metrics_allowed(request: HttpRequest) -> bool:
    """A matching bearer token, or a client address in an allowed network; with neither configured, DEBUG only."""
    token: str = settings.METRICS_TOKEN
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return bool(settings.DEBUG)
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if networks:
        address = _client_address(request)
        if address is not None and any(address in network for network in networks):
            return True
    return False


def _client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address the outermost of ``TRUSTED_PROXY_COUNT`` proxies saw (as the login rate limits count it)."""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    raw = forwarded[-proxies] if proxies > 0 and len(forwarded) >= proxies else request.META.get("REMOTE_ADDR", "")
    try:
        return ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        return None
