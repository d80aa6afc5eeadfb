"""The WSGI server of the sandbox: Meta's endpoints on a port of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import run
from django.http import HttpRequest
from django.http.response import HttpResponseBase

SANDBOX_URLCONF = "sandbox.urls"


class SandboxHandler(WSGIHandler):
    """Serves ``sandbox.urls`` instead of InstaForge's URLconf, without InstaForge's middleware.

    Meta runs none of InstaForge's sessions, CSRF checks or workspace scoping,
    so neither does its stand-in: requests go straight to the sandbox views.
    """

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Callable[..., Any]] = []
        self._template_response_middleware: list[Callable[..., Any]] = []
        self._exception_middleware: list[Callable[..., Any]] = []
        # BaseHandler's own chain without any middleware (Django has no public hook for this).
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        # Django resolves against request.urlconf when it is set.
        request.urlconf = SANDBOX_URLCONF  # type: ignore[attr-defined]
        return super().get_response(request)


def serve(host: str, port: int, *, on_bind: Callable[[int | str], None] | None = None) -> None:
    """Serve the sandbox until interrupted (threaded: the polling pages and the API answer side by side).

    ``on_bind`` gets the port actually bound (useful with port 0).
    """
    run(host, port, SandboxHandler(), threading=True, on_bind=on_bind)
