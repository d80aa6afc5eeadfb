"""Plumbing shared by the emulated API endpoints: parameters, errors, usage headers, the calls log."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox import selectors, services
from sandbox.errors import GraphError, SandboxApiError
from sandbox.models import SandboxAccount, SandboxToken

P = ParamSpec("P")


@dataclass
class ApiCall:
    """One request to an emulated endpoint: its parameters and, once known, the calling account."""

    method: str
    params: dict[str, str]
    account: SandboxAccount | None = field(default=None)

    def param(self, name: str) -> str:
        """A required parameter; raises the Graph "parameter is required" error when absent."""
        value = self.params.get(name, "")
        if not value:
            raise GraphError.missing_parameter(name)
        return value

    def authenticate(self) -> SandboxToken:
        """The live token of ``access_token``; the call is logged against its account from now on."""
        token = selectors.token_resolve(access_token=self.params.get("access_token", ""))
        self.account = token.account
        return token

    def fields(self, *, default: str) -> list[str]:
        """The comma-separated ``fields`` parameter, or ``default``."""
        return [name.strip() for name in (self.params.get("fields") or default).split(",") if name.strip()]


def _request_params(request: HttpRequest) -> dict[str, str]:
    # Graph parameters may come in the query string or a form body; the body wins, as in a POST form.
    return {**request.GET.dict(), **request.POST.dict()}


def _usage_headers(response: HttpResponse, account: SandboxAccount | None) -> None:
    # Header values are JSON strings (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
    response["X-App-Usage"] = json.dumps(selectors.app_usage())
    if account is not None:
        response["X-Business-Use-Case-Usage"] = json.dumps(selectors.business_use_case_usage(account=account))


def api_endpoint(
    *, methods: Collection[str]
) -> Callable[[Callable[Concatenate[ApiCall, P], dict[str, Any]]], Callable[Concatenate[HttpRequest, P], HttpResponse]]:
    """Turn ``view(call, **kwargs) -> body`` into an emulated endpoint.

    The endpoint is csrf-exempt (it is Meta, not an InstaForge form), answers
    JSON with Meta's usage headers, turns ``SandboxApiError`` into its error
    shape and records every call, secrets redacted, in the calls log.
    """

    def decorate(
        view: Callable[Concatenate[ApiCall, P], dict[str, Any]],
    ) -> Callable[Concatenate[HttpRequest, P], HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def endpoint(request: HttpRequest, /, *args: P.args, **kwargs: P.kwargs) -> HttpResponse:
            method = request.method or "GET"
            call = ApiCall(method=method, params=_request_params(request))
            try:
                if method not in methods:
                    raise GraphError.unsupported_method(method)
                status, body = 200, view(call, *args, **kwargs)
            except SandboxApiError as error:
                status, body = error.status, error.body()
            services.sandbox_call_record(
                method=method, path=request.path, account=call.account, params=call.params, status=status, response=body
            )
            response = JsonResponse(body, status=status)
            _usage_headers(response, call.account)
            return response

        return endpoint

    return decorate
