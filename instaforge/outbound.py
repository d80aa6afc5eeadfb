"""Calls to URLs our customers give us: CRM webhooks, a flow's webhook step, the AI endpoint.

A customer's URL must not reach into the network InstaForge runs in (the
database, the cloud's metadata service at 169.254.169.254, other tenants'
internal services): unless ``OUTBOUND_ALLOW_PRIVATE_URLS`` is on (it is with
DEBUG, for the demo's and the tests' local servers), a URL whose host resolves
to a loopback, private, link-local or otherwise non-public address is refused,
when it is saved and again when it is called (DNS may have changed since).
Redirects are not followed: a public URL cannot bounce the call inward.

The call itself goes through requests-hardened (Saleor's maintained SSRF
filter for requests): it resolves the host once, refuses a private or local
address, and connects to that very address (TLS still verified against the
host name). So a name that answers a public address to our check and a
private one a moment later (DNS rebinding) still reaches nothing inside.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress

# What a failed outbound call raises: requests' own classes, named here so that callers never import requests
# (HTTP leaves the product only from this module and from instagram.client: .importlinter).
OutboundError = requests.RequestException
OutboundTimeout = requests.Timeout


class OutboundRefused(requests.RequestException):
    """The URL leads to a private or local address: nothing was sent."""


def outbound_url_problem(url: str) -> str | None:
    """Why InstaForge will not call ``url``, or None. A host that does not resolve is not refused here."""
    if settings.OUTBOUND_ALLOW_PRIVATE_URLS:
        return None
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return "Use an http:// or https:// URL."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError, ValueError):
        return None  # the call itself will fail and say so
    for raw in sorted(addresses):
        address = ipaddress.ip_address(str(raw).split("%", 1)[0])
        if not address.is_global:
            return f"{host} is a private or local address ({address}): InstaForge only calls public addresses."
    return None


def _manager(*, filtered: bool) -> Manager:
    # Every caller passes its own timeout; the default only guards a forgotten one.
    return Manager(
        Config(
            ip_filter_enable=filtered,
            ip_filter_allow_loopback_ips=False,
            never_redirect=True,
            default_timeout=(5, 15),
        )
    )


def outbound_post(url: str, **kwargs: Any) -> requests.Response:
    """POST to a customer's URL, refused (``OutboundRefused``) when it leads inward, now or at connect time."""
    problem = outbound_url_problem(url)
    if problem is not None:
        raise OutboundRefused(problem)
    manager = _manager(filtered=not settings.OUTBOUND_ALLOW_PRIVATE_URLS)
    try:
        return manager.send_request("POST", url, allow_redirects=False, **kwargs)
    except InvalidIPAddress as exc:
        host = urlsplit(url).hostname
        raise OutboundRefused(
            f"{host} led to a private or local address ({exc}) when called: InstaForge only calls public addresses."
        ) from exc
