"""Reads of alerts in the workspace in scope (the scoped manager: never another workspace's, nor the platform's)."""

from __future__ import annotations

from django.db.models import QuerySet

from alerts.models import Alert, AlertNotification

PAST_ALERTS_SHOWN = 100


def alerts_open() -> list[Alert]:
    return list(Alert.objects.filter(resolved_at__isnull=True).select_related("acknowledged_by").order_by("-opened_at"))


def alerts_past(*, condition: str = "", limit: int = PAST_ALERTS_SHOWN) -> list[Alert]:
    queryset = Alert.objects.filter(resolved_at__isnull=False).order_by("-resolved_at", "-id")
    if condition:
        queryset = queryset.filter(condition=condition)
    return list(queryset[:limit])


def alert_notifications(*, alert: Alert) -> QuerySet[AlertNotification]:
    return AlertNotification.objects.filter(alert=alert).order_by("created_at", "id")
