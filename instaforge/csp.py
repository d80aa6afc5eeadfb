"""The Content-Security-Policy header (django-csp), with the one exception the operators' admin needs."""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

ADMIN_PREFIX = "/admin/"
ADMIN_UPDATE = {"script-src": ["'unsafe-eval'"]}
# What a view or a nonce can change per response (django-csp's decorators set these on the response).
_PER_RESPONSE = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_exempt",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
    "_csp_exempt_ro",
)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """settings.CONTENT_SECURITY_POLICY everywhere; under /admin/ scripts may also evaluate expressions.

    django-unfold's admin is built on Alpine.js, whose standard build compiles its ``x-*`` attribute
    expressions with ``new Function``: without 'unsafe-eval' no admin menu or filter would open.
    Inline scripts stay refused there too, and the members' pages never get the exception.

    The policy is the same for every response that no view changed and that used no nonce, so its
    header is built once per settings object, not per response (django-csp builds it each time, about
    40 µs: as much as parsing a webhook delivery).
    """

    _built: dict[bool, tuple[Any, str]] = {}

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith(ADMIN_PREFIX):
            parts.update = {**(parts.update or {}), **ADMIN_UPDATE}
        return parts

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            getattr(request, "_csp_nonce", None) is not None
            or getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
            or any(hasattr(response, name) for name in _PER_RESPONSE)
        ):
            return super().process_response(request, response)
        if settings.DEBUG and response.status_code in (404, 500):
            return response  # Django's debug pages, as django-csp leaves them
        if HEADER not in response:
            response[HEADER] = self._policy(admin=request.path_info.startswith(ADMIN_PREFIX))
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent miss.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response

    def _policy(self, *, admin: bool) -> str:
        config: Any = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        built = self._built.get(admin)
        if built is not None and built[0] is config:  # the same settings object (tests override it)
            return built[1]
        policy = build_policy(update=ADMIN_UPDATE if admin else None)
        self._built = {**self._built, admin: (config, policy)}  # a new dict: other threads see a whole one
        return policy
