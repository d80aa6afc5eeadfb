"""Plumbing shared by the emulated API endpoints: parameters, errors, usage headers, the calls log."""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Concatenate, ParamSpec

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from sandbox import selectors, services
from sandbox.errors import GraphError, SandboxApiError
from sandbox.models import SandboxAccount, SandboxCall, SandboxFault, SandboxSettings, SandboxToken

P = ParamSpec("P")


@dataclass
class ApiCall:
    """One request to an emulated endpoint: its parameters and, once known, the calling account."""

    method: str
    params: dict[str, Any]
    account: SandboxAccount | None = field(default=None)
    # Minutes in ``estimated_time_to_regain_access`` of the usage header (set when throttled).
    regain_minutes: int = 0
    # The request, for its absolute URL (``url``).
    request: HttpRequest | None = field(default=None, repr=False)
    # The account's calls in the last 24 hours before this one (set by ``authenticate``).
    calls_last_day: int | None = None
    _knobs: SandboxSettings | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The absolute URL of the request, for ``paging.next``; worked out only by the pages that have one."""
        return self.request.build_absolute_uri() if self.request is not None else ""

    @property
    def knobs(self) -> SandboxSettings:
        """The sandbox's settings, read once per request."""
        if self._knobs is None:
            self._knobs = selectors.sandbox_settings()
        return self._knobs

    def param(self, name: str) -> str:
        """A required parameter; raises the Graph "parameter is required" error when absent."""
        value = self.params.get(name, "")
        if not value:
            raise GraphError.missing_parameter(name)
        return str(value)

    def object_param(self, name: str) -> dict[str, Any]:
        """A JSON object parameter (a JSON body key, or a form/query value holding JSON), or {}."""
        value = self.params.get(name)
        if isinstance(value, str) and value:
            try:
                value = json.loads(value)
            except ValueError:
                raise GraphError.invalid_parameter(f"{name} must be a JSON object") from None
        return value if isinstance(value, dict) else {}

    def authenticate(self) -> SandboxToken:
        """The live token of ``access_token``; the call is logged against its account from now on.

        Also enforces the account's business use case limit (error 80002).
        """
        token = selectors.token_resolve(access_token=str(self.params.get("access_token", "")))
        self.account = token.account
        _check_business_limit(self)
        return token

    def fields(self, *, default: str) -> list[str]:
        """The comma-separated ``fields`` parameter, or ``default``."""
        return [name.strip() for name in str(self.params.get("fields") or default).split(",") if name.strip()]


def _request_params(request: HttpRequest) -> dict[str, Any]:
    # Graph parameters may come in the query string, a form body or a JSON body (the Messaging API's samples);
    # the body wins, as in a POST form.
    params: dict[str, Any] = {**request.GET.dict(), **request.POST.dict()}
    if request.content_type == "application/json" and request.body:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise GraphError.invalid_parameter("The request body is not valid JSON") from None
        if isinstance(body, dict):
            params.update(body)
    return params


def _usage_headers(response: HttpResponse, call: ApiCall) -> None:
    # Header values are JSON strings (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
    response["X-App-Usage"] = json.dumps(selectors.app_usage(knobs=call.knobs))
    if call.account is not None:
        # This call is on the log by now: one more than ``authenticate`` counted.
        calls = call.calls_last_day + 1 if call.calls_last_day is not None else None
        usage = selectors.business_use_case_usage(
            account=call.account, regain_minutes=call.regain_minutes, knobs=call.knobs, calls_last_day=calls
        )
        response["X-Business-Use-Case-Usage"] = json.dumps(usage)


# The faults that act on API calls (dropped webhooks act on the webhook sender).
API_FAULT_KINDS = frozenset(kind for kind in SandboxFault.Kind.values if kind != SandboxFault.Kind.DROP_WEBHOOKS)
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80002})
TRANSIENT_CODES = frozenset({1, 2})


def _token_account(access_token: str) -> SandboxAccount | None:
    token = SandboxToken.objects.select_related("account").filter(token=access_token).first() if access_token else None
    return token.account if token is not None else None


def _apply_faults(request: HttpRequest, call: ApiCall) -> None:
    """Act out the active faults aimed at this request: sleep, revoke, or raise the injected error.

    A ``timeout`` sleeps and then answers normally: from the client's side the
    answer never came, yet the request did reach "Meta" (the case the
    executor must reconcile).
    """
    if not selectors.faults_any_active(kinds=API_FAULT_KINDS):
        return  # the usual case: nothing to act out
    account = _token_account(str(call.params.get("access_token", "")))
    username = account.username if account is not None else ""
    fault = selectors.fault_matching(kinds=API_FAULT_KINDS, method=call.method, path=request.path, username=username)
    if fault is None or not services.sandbox_fault_consume(fault=fault):
        return
    if fault.kind in {SandboxFault.Kind.LATENCY, SandboxFault.Kind.TIMEOUT}:
        time.sleep((fault.milliseconds or 0) / 1000)
        return
    if fault.kind == SandboxFault.Kind.REVOKE:
        if account is not None:
            services.sandbox_tokens_revoke(account=account)
        return
    call.account = account
    if fault.kind == SandboxFault.Kind.STATUS:
        status = fault.status or 503
        raise GraphError(services.FAULT_MESSAGES[2], code=2, status=status, is_transient=True)
    code = fault.code or 2
    if code in RATE_LIMIT_CODES:
        call.regain_minutes = 1
    status = fault.status or (500 if code in TRANSIENT_CODES else 400)
    message = services.FAULT_MESSAGES.get(code, f"(#{code}) Injected error")
    raise GraphError(message, code=code, subcode=fault.subcode, status=status)


def _check_business_limit(call: ApiCall) -> None:
    """Instagram's business use case limit per account and rolling 24 hours: error 80002 once it is reached."""
    account = call.account
    if account is None:
        return
    allowed = call.knobs.business_calls_per_day
    call.calls_last_day = selectors.business_calls_counted(account=account)
    if call.calls_last_day < allowed:
        return
    since = timezone.now() - timedelta(hours=24)
    calls = SandboxCall.objects.filter(account=account, at__gte=since)
    oldest = calls.order_by("at").values_list("at", flat=True).first() or timezone.now()
    call.regain_minutes = max(1, math.ceil((oldest + timedelta(hours=24) - timezone.now()).total_seconds() / 60))
    raise GraphError.business_rate_limited()


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
            call = ApiCall(method=method, params={}, request=request)
            try:
                call.params = _request_params(request)
                if method not in methods:
                    raise GraphError.unsupported_method(method)
                _apply_faults(request, call)
                status, body = 200, view(call, *args, **kwargs)
            except SandboxApiError as error:
                status, body = error.status, error.body()
            services.sandbox_call_record(
                method=method, path=request.path, account=call.account, params=call.params, status=status, response=body
            )
            response = JsonResponse(body, status=status)
            _usage_headers(response, call)
            return response

        return endpoint

    return decorate
