"""django-allauth's adapter: where InstaForge departs from allauth's defaults."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.internal.httpkit import clean_client_ip
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        """The address the rate limits count: the one the outermost of TRUSTED_PROXY_COUNT proxies saw.

        allauth raises ImproperlyConfigured (a 500) when X-Forwarded-For has fewer entries than there are
        trusted proxies, which is what a request that bypassed the outer proxy looks like: such a request
        is counted under the address that connected (REMOTE_ADDR) instead. An address that is not one is
        refused (403), as allauth does.
        """
        proxies = settings.TRUSTED_PROXY_COUNT
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
        raw = forwarded[-proxies] if proxies > 0 and len(forwarded) >= proxies else request.META.get("REMOTE_ADDR", "")
        ip = clean_client_ip(raw) if raw else None
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip
