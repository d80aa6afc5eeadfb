"""The admin's index as the operators' console (unfold's ``DASHBOARD_CALLBACK``, templates/admin/index.html).

Each section is shown to a staff user who may view its rows in the admin (the model's ``view`` permission), and
its figures are read only then: staff without a permission see neither the section nor its figures. The
figures come from ``observability.console``; this module only shapes them for unfold's components (charts
take their data as JSON in a ``data-value`` attribute, rendered by unfold's own static script: no inline script,
and Chart.js is served from unfold's static files).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import AccountState
from actions.models import ActionState
from observability import console

# Which admin permission shows which section.
SECTION_PERMISSIONS = {
    "accounts": "accounts.view_instagramaccount",
    "actions": "actions.view_action",
    "inbound": "instagram.view_inboundevent",
    "endpoints": "integrations.view_webhookendpoint",
    "tasks": "django_q.view_failure",
    "alerts": "alerts.view_alert",
    "heartbeats": "observability.view_heartbeat",
}
OUTCOME_COLORS = {
    ActionState.SUCCEEDED: "#16a34a",
    ActionState.FAILED: "#dc2626",
    ActionState.DENIED: "#d97706",
    ActionState.UNKNOWN: "#6b7280",
}
PRIMARY = "var(--color-primary-600)"


def _chart_options(*, stacked: bool = False, legend: bool = False, horizontal: bool = False) -> str:
    """Chart.js options (unfold uses its own defaults only when a chart has none)."""
    axis = {"grid": {"display": False}, "ticks": {"color": "#9ca3af"}}
    value_axis = {"beginAtZero": True, "ticks": {"color": "#9ca3af", "precision": 0}, "stacked": stacked}
    options: dict[str, Any] = {
        "animation": False,
        "maintainAspectRatio": False,
        "plugins": {
            "legend": {"display": legend, "align": "end", "position": "top", "labels": {"usePointStyle": True}}
        },
        "scales": {"x": {**axis, "stacked": stacked}, "y": value_axis}
        if not horizontal
        else {"x": value_axis, "y": {**axis, "stacked": stacked}},
    }
    if horizontal:
        options["indexAxis"] = "y"
    return json.dumps(options)


def _table(headers: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """The shape of unfold's table component."""
    return {"headers": headers, "rows": rows}


def _link(url_name: str, pk: object, text: object) -> str:
    return format_html(
        '<a class="text-primary-600 dark:text-primary-500" href="{}">{}</a>', reverse(url_name, args=[pk]), text
    )


def _when(value: datetime | None) -> str:
    return "—" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def _hour_labels(now: datetime) -> list[str]:
    return [hour.strftime("%H:00") for hour in console.hours_last_day(now=now)]


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    """The console's context: the sections the user may see, each with its figures."""
    now = timezone.now()
    user = request.user
    allowed = {section for section, permission in SECTION_PERMISSIONS.items() if user.has_perm(permission)}
    context["console"] = {"sections": allowed, "generated_at": now}
    if "accounts" in allowed:
        context["console"].update(_accounts(now))
    if "actions" in allowed:
        context["console"].update(_actions(now))
    if "inbound" in allowed:
        context["console"].update(_inbound(now))
    if "endpoints" in allowed:
        context["console"]["failing_endpoints"] = _table(
            ["Endpoint", "Workspace", "Failures (24 h)", "Last failure", "Last success"],
            [
                [
                    _link("admin:integrations_webhookendpoint_change", endpoint.endpoint_id, endpoint.host),
                    endpoint.workspace,
                    endpoint.failures,
                    _when(endpoint.last_failure_at),
                    _when(endpoint.last_success_at),
                ]
                for endpoint in console.console_failing_endpoints(now=now)
            ],
        )
        context["console"]["pending_deliveries"] = console.console_pending_deliveries()
    if "tasks" in allowed:
        context["console"]["failed_tasks"] = _table(
            ["Task", "Function", "Stopped", "Attempts"],
            [
                [
                    _link("admin:django_q_failure_change", task.task_id, task.name),
                    task.func,
                    _when(task.stopped),
                    task.attempts,
                ]
                for task in console.console_failed_tasks()
            ],
        )
    if "alerts" in allowed:
        open_alerts = console.console_open_alerts()
        context["console"]["open_alerts_total"] = open_alerts.total
        context["console"]["open_alerts"] = _table(
            ["Alert", "Scope", "Condition", "Opened"],
            [
                [
                    _link("admin:alerts_alert_change", alert.pk, alert.title),
                    alert.get_scope_display(),
                    alert.condition,
                    _when(alert.opened_at),
                ]
                for alert in open_alerts.latest
            ],
        )
        context["console"]["alerts_url"] = reverse("admin:alerts_alert_changelist") + "?status=open"
    if "heartbeats" in allowed:
        context["console"]["heartbeats"] = _table(
            ["Process", "Last heartbeat", "Allowed age", "Status"],
            [
                [
                    beat.label,
                    "never" if beat.age_seconds is None else f"{beat.age_seconds:.0f} s ago",
                    f"{beat.max_age_seconds} s",
                    "up" if beat.alive else "DOWN",
                ]
                for beat in console.console_heartbeats(now=now)
            ],
        )
    return context


def _accounts(now: datetime) -> dict[str, Any]:
    counts = console.console_accounts_by_state()
    labels = dict(AccountState.choices)
    shown = [(state, count) for state, count in counts.items() if count]
    riskiest = _table(
        ["Account", "Workspace", "State", "Risk score"],
        [
            [
                _link("admin:accounts_instagramaccount_change", account.account_id, f"@{account.username}"),
                account.workspace,
                labels.get(account.state, account.state),
                account.risk_score,
            ]
            for account in console.console_riskiest_accounts()
        ],
    )
    return {
        "accounts_total": sum(counts.values()),
        "accounts_by_state": [{"state": state, "label": labels[state], "count": count} for state, count in shown],
        "accounts_chart": json.dumps(
            {
                "labels": [labels[state] for state, _ in shown],
                "datasets": [{"label": "Accounts", "data": [count for _, count in shown], "backgroundColor": PRIMARY}],
            }
        ),
        "accounts_chart_options": _chart_options(horizontal=True),
        "riskiest_accounts": riskiest,
    }


def _actions(now: datetime) -> dict[str, Any]:
    per_hour = console.console_actions_per_hour(now=now)
    deferrals = console.console_deferrals_by_reason(now=now)
    return {
        "actions_total": {ActionState(outcome).label: sum(counts) for outcome, counts in per_hour.items()},
        "actions_chart": json.dumps(
            {
                "labels": _hour_labels(now),
                "datasets": [
                    {
                        "label": ActionState(outcome).label,
                        "data": counts,
                        "backgroundColor": OUTCOME_COLORS[ActionState(outcome)],
                    }
                    for outcome, counts in per_hour.items()
                ],
            }
        ),
        "actions_chart_options": _chart_options(stacked=True, legend=True),
        "deferrals": deferrals,
        "deferrals_chart": json.dumps(
            {
                "labels": list(deferrals),
                "datasets": [{"label": "Deferrals", "data": list(deferrals.values()), "backgroundColor": PRIMARY}],
            }
        ),
        "deferrals_chart_options": _chart_options(horizontal=True),
    }


def _inbound(now: datetime) -> dict[str, Any]:
    per_hour = console.console_inbound_per_hour(now=now)
    return {
        "inbound_total": sum(per_hour),
        "inbound_chart": json.dumps(
            {
                "labels": _hour_labels(now),
                "datasets": [
                    {
                        "label": "Inbound events",
                        "data": per_hour,
                        "borderColor": PRIMARY,
                        "backgroundColor": PRIMARY,
                    }
                ],
            }
        ),
        "inbound_chart_options": _chart_options(),
        "inbound_lag": console.console_inbound_lag(now=now),
    }
