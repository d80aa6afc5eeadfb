from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import manager_required, workspace_required
from accounts.middleware import WorkspaceRequest
from integrations.forms import WebhookEndpointForm
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from integrations.selectors import deliveries_recent, endpoints_of_workspace
from integrations.services import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    endpoint_create,
    endpoint_ping,
    endpoint_secret_readable,
    endpoint_secret_rotate,
    endpoint_secret_set,
    endpoint_update,
    webhook_delivery_resend,
)


@workspace_required
def endpoint_list(request: WorkspaceRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST":
        if not request.membership.can_manage:
            messages.error(request, "Only owners and admins of the workspace can add webhook endpoints.")
            return redirect("webhook_endpoints")
        if form.is_valid():
            endpoint = endpoint_create(
                workspace=request.workspace,
                url=form.cleaned_data["url"],
                event_kinds=form.cleaned_data["event_kinds"],
                description=form.cleaned_data["description"],
            )
            messages.success(request, "Endpoint added. Its signing secret is shown on its page.")
            return redirect("webhook_endpoint_edit", endpoint_id=endpoint.pk)
    return render(
        request,
        "integrations/endpoint_list.html",
        {"endpoints": endpoints_of_workspace(), "form": form, "signature_header": SIGNATURE_HEADER},
    )


@manager_required
def endpoint_edit(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects, pk=endpoint_id)
    form = WebhookEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        endpoint_update(
            endpoint=endpoint,
            url=form.cleaned_data["url"],
            event_kinds=form.cleaned_data["event_kinds"],
            description=form.cleaned_data["description"],
            is_active=form.cleaned_data["is_active"],
        )
        messages.success(request, "Endpoint saved.")
        return redirect("webhook_endpoints")
    return render(
        request,
        "integrations/endpoint_edit.html",
        {
            "endpoint": endpoint,
            "form": form,
            # None when no configured key decrypts it: the page says so and offers to re-enter it, never a 500.
            "secret": endpoint_secret_readable(endpoint=endpoint),
            "signature_header": SIGNATURE_HEADER,
            "timestamp_header": TIMESTAMP_HEADER,
            "deliveries": deliveries_recent(endpoint=endpoint, limit=20),
        },
    )


@manager_required
@require_POST
def endpoint_secret_reset(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    """Re-enter the secret the CRM already has, or (with nothing entered) generate a new one."""
    endpoint = get_object_or_404(WebhookEndpoint.objects, pk=endpoint_id)
    entered = request.POST.get("secret", "").strip()
    if entered:
        try:
            endpoint_secret_set(endpoint=endpoint, secret=entered)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Signing secret saved. Deliveries are signed with it from now on.")
    else:
        endpoint_secret_rotate(endpoint=endpoint)
        messages.success(request, "New signing secret generated: copy it into your CRM.")
    return redirect("webhook_endpoint_edit", endpoint_id=endpoint.pk)


@manager_required
@require_POST
def endpoint_delete(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects, pk=endpoint_id)
    endpoint.delete()
    messages.success(request, f"Endpoint {endpoint.url} deleted.")
    return redirect("webhook_endpoints")


@manager_required
@require_POST
def endpoint_test(request: WorkspaceRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint.objects, pk=endpoint_id)
    endpoint_ping(endpoint=endpoint)
    messages.success(request, "Test event queued; its delivery appears in the log.")
    return redirect("webhook_deliveries")


@workspace_required
def delivery_list(request: WorkspaceRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if state not in DeliveryState.values:
        state = ""
    return render(
        request,
        "integrations/delivery_list.html",
        {"deliveries": deliveries_recent(state=state), "state": state, "states": DeliveryState.choices},
    )


@manager_required
@require_POST
def delivery_resend(request: WorkspaceRequest, delivery_id: int) -> HttpResponse:
    delivery = get_object_or_404(WebhookDelivery.objects.select_related("endpoint"), pk=delivery_id)
    webhook_delivery_resend(delivery=delivery)
    messages.success(request, f"“{delivery.get_event_kind_display()}” queued again for {delivery.endpoint.url}.")
    return redirect("webhook_deliveries")
