"""The workspace's alert page (open and past alerts), an alert's page, and the alert channels' settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import manager_required, workspace_required
from accounts.middleware import WorkspaceRequest
from alerts.conditions import CONDITION_LABELS, CONDITIONS
from alerts.forms import AlertSettingsForm
from alerts.models import Alert, AlertScope
from alerts.selectors import alert_notifications, alerts_open, alerts_past
from alerts.services import alert_acknowledge, alert_settings_slack_set, alert_settings_slack_url, slack_url_shown

WORKSPACE_CONDITIONS = [(c.key, c.label) for c in CONDITIONS if c.scope == AlertScope.WORKSPACE]


def _labelled(alerts: list[Alert]) -> list[tuple[Alert, str]]:
    return [(alert, CONDITION_LABELS.get(alert.condition, alert.condition)) for alert in alerts]


@workspace_required
def alert_list(request: WorkspaceRequest) -> HttpResponse:
    condition = request.GET.get("condition", "")
    if condition not in CONDITION_LABELS:
        condition = ""
    return render(
        request,
        "alerts/alert_list.html",
        {
            "open_alerts": _labelled(alerts_open()),
            "past_alerts": _labelled(alerts_past(condition=condition)),
            "condition": condition,
            "conditions": WORKSPACE_CONDITIONS,
        },
    )


@workspace_required
def alert_detail(request: WorkspaceRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects.select_related("acknowledged_by"), pk=alert_id)
    return render(
        request,
        "alerts/alert_detail.html",
        {
            "alert": alert,
            "label": CONDITION_LABELS.get(alert.condition, alert.condition),
            "notifications": alert_notifications(alert=alert),
        },
    )


@workspace_required
@require_POST
def alert_acknowledge_view(request: WorkspaceRequest, alert_id: int) -> HttpResponse:
    alert = get_object_or_404(Alert.objects, pk=alert_id)
    alert_acknowledge(alert=alert, user=request.user)
    messages.success(request, "Marked as seen. The alert resolves by itself once its cause clears.")
    return redirect("alert_detail", alert_id=alert.pk)


@manager_required
def alert_settings(request: WorkspaceRequest) -> HttpResponse:
    form = AlertSettingsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["remove_slack"]:
            alert_settings_slack_set(workspace_id=request.workspace.pk, url="")
            messages.success(request, "Slack webhook URL removed: alerts go by email only.")
        elif form.cleaned_data["slack_webhook_url"]:
            alert_settings_slack_set(workspace_id=request.workspace.pk, url=form.cleaned_data["slack_webhook_url"])
            messages.success(request, "Slack webhook URL saved: new alerts are posted there too.")
        return redirect("alert_settings")
    return render(
        request,
        "alerts/settings.html",
        {"form": form, "slack_url": slack_url_shown(alert_settings_slack_url(workspace_id=request.workspace.pk))},
    )
