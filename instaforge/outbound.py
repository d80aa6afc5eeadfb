"""Calls to URLs our customers give us: CRM webhooks, a flow's webhook step, the AI endpoint.

A customer's URL must not reach into the network InstaForge runs in (the
database, the cloud's metadata service at 169.254.169.254, other tenants'
internal services): unless ``OUTBOUND_ALLOW_PRIVATE_URLS`` is on (it is with
DEBUG, for the demo's and the tests' local servers), a URL whose host resolves
to a loopback, private, link-local or otherwise non-public address is refused,
when it is saved and again when it is called (DNS may have changed since).
Redirects are not followed: a public URL cannot bounce the call inward.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings


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


def outbound_post(url: str, **kwargs: Any) -> requests.Response:
    """``requests.post`` to a customer's URL, refused (``OutboundRefused``) when it leads inward."""
    problem = outbound_url_problem(url)
    if problem is not None:
        raise OutboundRefused(problem)
    return requests.post(url, allow_redirects=False, **kwargs)  # noqa: S113 (every caller passes its timeout)
