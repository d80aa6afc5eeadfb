"""Reads for CRM webhooks (within the workspace in scope)."""

from __future__ import annotations

from django.db.models import QuerySet

from integrations.models import WebhookDelivery, WebhookEndpoint


def endpoints_of_workspace() -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.order_by("created_at", "id")


def deliveries_recent(
    *, endpoint: WebhookEndpoint | None = None, state: str = "", limit: int = 200
) -> list[WebhookDelivery]:
    queryset = WebhookDelivery.objects.select_related("endpoint").order_by("-created_at", "-id")
    if endpoint is not None:
        queryset = queryset.filter(endpoint=endpoint)
    if state:
        queryset = queryset.filter(state=state)
    return list(queryset[:limit])
