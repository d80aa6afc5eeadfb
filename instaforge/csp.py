"""The Content-Security-Policy header (django-csp), with the one exception the operators' admin needs."""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest
from django.http.response import HttpResponseBase

ADMIN_PREFIX = "/admin/"


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """settings.CONTENT_SECURITY_POLICY everywhere; under /admin/ scripts may also evaluate expressions.

    django-unfold's admin is built on Alpine.js, whose standard build compiles its ``x-*`` attribute
    expressions with ``new Function``: without 'unsafe-eval' no admin menu or filter would open.
    Inline scripts stay refused there too, and the members' pages never get the exception.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(ADMIN_PREFIX):
            parts.update = {**(parts.update or {}), "script-src": ["'unsafe-eval'"]}
        return parts
