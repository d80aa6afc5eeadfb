"""The sandbox's control API: inject faults and tune webhook and publishing behaviour (JSON, local only).

- ``GET /_control/faults`` lists active faults; ``POST`` adds one (JSON body with the
  fields of ``services.sandbox_fault_add``); ``DELETE`` clears all (or ``/_control/faults/<id>``).
- ``GET /_control/settings`` shows the knobs; ``POST``/``PATCH`` changes some.
- ``POST /_control/webhooks/flush`` sends what is due in the webhook outbox now.

Stored in the database, so every sandbox process sees the same faults.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.forms.models import model_to_dict
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandbox import selectors, services
from sandbox.models import SandboxFault
from sandbox.webhooks import webhook_outbox_flush

FAULT_ARGUMENTS = (
    "kind",
    "code",
    "subcode",
    "status",
    "milliseconds",
    "ratio",
    "account_username",
    "path_pattern",
    "method",
    "times",
)


def fault_as_dict(fault: SandboxFault) -> dict[str, Any]:
    data = model_to_dict(fault)
    data["created_at"] = fault.created_at.isoformat()
    return data


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise ValidationError("The body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object")
    return body


def _bad_request(error: ValidationError) -> JsonResponse:
    return JsonResponse({"error": " ".join(error.messages)}, status=400)


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest) -> JsonResponse:
    if request.method == "DELETE":
        return JsonResponse({"cleared": services.sandbox_faults_clear()})
    if request.method == "POST":
        try:
            body = _json_body(request)
            unknown = set(body) - set(FAULT_ARGUMENTS)
            if unknown:
                raise ValidationError(f"Unknown fields: {', '.join(sorted(unknown))}")
            fault = services.sandbox_fault_add(**body)
        except (ValidationError, TypeError) as error:
            return _bad_request(error if isinstance(error, ValidationError) else ValidationError(str(error)))
        return JsonResponse(fault_as_dict(fault), status=201)
    return JsonResponse({"data": [fault_as_dict(fault) for fault in selectors.faults_active()]})


@csrf_exempt
@require_http_methods(["DELETE"])
def fault_delete(request: HttpRequest, fault_id: int) -> JsonResponse:
    return JsonResponse({"cleared": services.sandbox_faults_clear(fault_id=fault_id)})


@csrf_exempt
@require_http_methods(["GET", "POST", "PATCH"])
def sandbox_settings(request: HttpRequest) -> JsonResponse:
    if request.method in {"POST", "PATCH"}:
        try:
            row = services.sandbox_settings_update(**_json_body(request))
        except (ValidationError, TypeError, ValueError) as error:
            return _bad_request(error if isinstance(error, ValidationError) else ValidationError(str(error)))
    else:
        row = selectors.sandbox_settings()
    data = model_to_dict(row)
    data.pop("id", None)
    return JsonResponse(data)


@csrf_exempt
@require_http_methods(["POST"])
def webhooks_flush(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"posts": webhook_outbox_flush()})
