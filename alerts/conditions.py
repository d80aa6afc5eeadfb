"""The conditions alerts watch, each read from the database as it stands (the database is the record).

A condition's ``find`` returns a ``Finding`` per subject for which it holds now; the sweep
(``alerts.services.alerts_sweep``) opens an alert for a new subject, keeps the open one of a subject still
found, and resolves the open alert of a subject no longer found. So a condition only says what is wrong
now, never what changed; "turned on" and "turned off" are the alert's opening and resolution.

Customer conditions (an account's state, its token, its kill switch, its publishing, its CRM endpoints) are
the workspace's; platform conditions (the global kill switch, the inbound backlog and failures, the
processes' heartbeats) are the operators'. The reads span every workspace by nature: they use
``all_workspaces`` (instaforge/tests/test_all_workspaces_allowlist.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, Subquery

from accounts.models import AccountState, InstagramAccount
from alerts.models import AlertScope
from instagram.models import InboundEvent, InboundEventState
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from observability.models import HeartbeatRole
from observability.selectors import heartbeat_ages, webhook_refusals_recent
from publishing.models import PostState, ScheduledPost
from safety.models import AccountUsage, GlobalKillSwitch, SafetyEvent, SafetyEventKind, SafetyOverride

# A token this close to its expiry is announced (the daily refresh renews tokens 45 days ahead, so one this
# close means the refresh keeps failing).
TOKEN_EXPIRY_WARNING = timedelta(days=7)
# A rate-limit storm: at least this many rate-limit answers within the window, while Instagram's regain
# time still holds the account back.
RATE_LIMIT_STORM_EVENTS = 3
RATE_LIMIT_STORM_WINDOW = timedelta(hours=1)
# Inbound events that failed processing: this many within the window.
INBOUND_FAILURES_TO_ALERT = 3
INBOUND_FAILURE_WINDOW = timedelta(minutes=30)
# A CRM endpoint is failing when a delivery gave up, or is still retrying after this many failed attempts,
# within the window, with no successful delivery since.
CRM_FAILED_ATTEMPTS = 2
CRM_FAILURE_WINDOW = timedelta(hours=24)

# Webhook deliveries refused (bad signature, malformed, an error of ours): this many within the window. Meta
# retries a refused delivery and disables the subscription after about an hour of failures.
WEBHOOK_REFUSALS_TO_ALERT = 5
WEBHOOK_REFUSALS_WINDOW = timedelta(minutes=30)

PLATFORM_SUBJECT = "platform"


@dataclass(frozen=True)
class Finding:
    """A subject for which a condition holds now."""

    subject: str
    workspace_id: int | None
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Condition:
    key: str
    scope: AlertScope
    label: str
    find: Callable[[datetime], list[Finding]]
    # A workspace's condition the operators are told of too (a suspension waits for their review).
    also_operators: bool = False


def _account_name(username: str, account_id: int) -> str:
    return f"@{username}" if username else f"Instagram account {account_id}"


def accounts_suspended_find(now: datetime) -> list[Finding]:
    rows = InstagramAccount.all_workspaces.filter(state=AccountState.SUSPENDED).values_list(
        "pk", "workspace_id", "username", "state_reason"
    )
    return [
        Finding(
            f"account:{pk}",
            workspace_id,
            f"{_account_name(username, pk)} is suspended and waits for an operator's review",
            reason,
        )
        for pk, workspace_id, username, reason in rows
    ]


def accounts_rate_limited_find(now: datetime) -> list[Finding]:
    held = dict(
        AccountUsage.objects.filter(regain_at__gt=now).values_list("account_id", "regain_at").order_by("account_id")
    )
    if not held:
        return []
    storms = dict(
        SafetyEvent.all_workspaces.filter(
            account_id__in=held, kind=SafetyEventKind.RATE_LIMIT, at__gte=now - RATE_LIMIT_STORM_WINDOW
        )
        .values("account_id")
        .annotate(hits=Count("id"))
        .filter(hits__gte=RATE_LIMIT_STORM_EVENTS)
        .values_list("account_id", "hits")
    )
    accounts = InstagramAccount.all_workspaces.filter(pk__in=storms).values_list("pk", "workspace_id", "username")
    return [
        Finding(
            f"account:{pk}",
            workspace_id,
            f"{_account_name(username, pk)} is paused by Instagram's rate limits",
            f"{storms[pk]} rate-limit answers in the last {int(RATE_LIMIT_STORM_WINDOW.total_seconds() // 60)} min; "
            f"no call before {held[pk]:%Y-%m-%d %H:%M} UTC",
        )
        for pk, workspace_id, username in accounts
    ]


def tokens_expiring_find(now: datetime) -> list[Finding]:
    rows = (
        InstagramAccount.all_workspaces.exclude(state__in=[AccountState.INACTIVE, AccountState.ERROR])
        .filter(token_expires_at__gt=now, token_expires_at__lte=now + TOKEN_EXPIRY_WARNING)
        .values_list("pk", "workspace_id", "username", "token_expires_at")
    )
    return [
        Finding(
            f"account:{pk}",
            workspace_id,
            f"The Instagram connection of {_account_name(username, pk)} expires on {expires:%Y-%m-%d}",
            "Reconnect the account before then, or nothing more is sent from it.",
        )
        for pk, workspace_id, username, expires in rows
    ]


def tokens_invalid_find(now: datetime) -> list[Finding]:
    rows = (
        InstagramAccount.all_workspaces.exclude(state=AccountState.INACTIVE)
        .filter(Q(state=AccountState.ERROR) | Q(token_expires_at__lte=now))
        .values_list("pk", "workspace_id", "username", "state", "state_reason")
    )
    return [
        Finding(
            f"account:{pk}",
            workspace_id,
            f"The Instagram connection of {_account_name(username, pk)} expired or was revoked",
            reason if state == AccountState.ERROR else "Its token expired: reconnect the account.",
        )
        for pk, workspace_id, username, state, reason in rows
    ]


def kill_switches_find(now: datetime) -> list[Finding]:
    rows = SafetyOverride.all_workspaces.filter(sending_stopped=True).values_list(
        "workspace_id", "account_id", "account__username", "stopped_reason"
    )
    return [
        Finding(
            f"account:{account_id}" if account_id else f"workspace:{workspace_id}",
            workspace_id,
            (
                f"Sending is stopped for {_account_name(username or '', account_id)}"
                if account_id
                else "Sending is stopped for the whole workspace"
            ),
            reason,
        )
        for workspace_id, account_id, username, reason in rows
    ]


def global_kill_switch_find(now: datetime) -> list[Finding]:
    reasons = GlobalKillSwitch.objects.filter(pk=1, sending_stopped=True).values_list("stopped_reason", flat=True)
    return [
        Finding(PLATFORM_SUBJECT, None, "Sending is stopped for the whole platform (global kill switch)", reason)
        for reason in reasons
    ]


def inbound_backlog_find(now: datetime) -> list[Finding]:
    # The same limit as the readiness check's (observability): one figure says when the backlog is too old.
    threshold = timedelta(seconds=settings.HEALTH_INBOUND_MAX_AGE_SECONDS)
    waiting = InboundEvent.objects.filter(
        state__in=[InboundEventState.PENDING, InboundEventState.PROCESSING], received_at__lt=now - threshold
    )
    oldest = waiting.order_by("received_at").values_list("received_at", flat=True).first()
    if oldest is None:
        return []
    return [
        Finding(
            PLATFORM_SUBJECT,
            None,
            f"Inbound webhook events wait longer than {int(threshold.total_seconds() // 60)} min",
            f"The oldest unprocessed event was received at {oldest:%Y-%m-%d %H:%M:%S} UTC "
            f"({int((now - oldest).total_seconds() // 60)} min ago): are the workers running?",
        )
    ]


def inbound_failures_find(now: datetime) -> list[Finding]:
    failed = InboundEvent.objects.filter(
        state=InboundEventState.FAILED, processed_at__gte=now - INBOUND_FAILURE_WINDOW
    ).count()
    if failed < INBOUND_FAILURES_TO_ALERT:
        return []
    return [
        Finding(
            PLATFORM_SUBJECT,
            None,
            "Inbound webhook events are failing",
            f"{failed} events failed processing in the last {int(INBOUND_FAILURE_WINDOW.total_seconds() // 60)} min "
            "(see the inbound events in the admin).",
        )
    ]


def webhook_refusals_find(now: datetime) -> list[Finding]:
    refused = webhook_refusals_recent(window=WEBHOOK_REFUSALS_WINDOW, now=now)
    if refused < WEBHOOK_REFUSALS_TO_ALERT:
        return []
    return [
        Finding(
            PLATFORM_SUBJECT,
            None,
            "Webhook deliveries are being refused",
            f"{refused} deliveries were refused in the last {int(WEBHOOK_REFUSALS_WINDOW.total_seconds() // 60)} min "
            "(bad signature, malformed body or an error: see instaforge_webhook_deliveries_total and "
            "instaforge_meta_callbacks_total by result). Meta "
            "retries them and disables the subscription after about an hour of failures: check that "
            "INSTAGRAM_APP_SECRET is the app secret of the app Meta sends for.",
        )
    ]


def _heartbeat_max_ages() -> dict[str, int]:
    """The readiness check's limits (observability): a role silent longer than its limit is down."""
    return {
        HeartbeatRole.DISPATCHER: settings.HEALTH_DISPATCHER_MAX_AGE_SECONDS,
        HeartbeatRole.WORKER: settings.HEALTH_WORKER_MAX_AGE_SECONDS,
        HeartbeatRole.SCHEDULER: settings.HEALTH_SCHEDULER_MAX_AGE_SECONDS,
    }


def heartbeats_missing_find(now: datetime) -> list[Finding]:
    limits = _heartbeat_max_ages()
    findings = []
    for role, age in heartbeat_ages(now=now).items():
        limit = limits.get(role)
        if limit is None or (age is not None and age <= limit):
            continue
        label = HeartbeatRole(role).label
        findings.append(
            Finding(
                f"heartbeat:{role}",
                None,
                f"No {label.lower()} is alive (heartbeat missing)",
                "No process of this role has ever recorded a heartbeat."
                if age is None
                else f"The newest heartbeat is {int(age)} s old (limit {limit} s).",
            )
        )
    return findings


def posts_failed_find(now: datetime) -> list[Finding]:
    rows = ScheduledPost.all_workspaces.filter(state=PostState.FAILED).values_list(
        "pk", "workspace_id", "account_id", "account__username", "state_reason"
    )
    return [
        Finding(
            f"post:{pk}",
            workspace_id,
            f"A post of {_account_name(username, account_id)} failed to publish",
            reason,
        )
        for pk, workspace_id, account_id, username, reason in rows
    ]


def crm_endpoints_failing_find(now: datetime) -> list[Finding]:
    failing = dict(
        WebhookDelivery.all_workspaces.filter(created_at__gte=now - CRM_FAILURE_WINDOW)
        .filter(Q(state=DeliveryState.FAILED) | Q(state=DeliveryState.PENDING, attempts__gte=CRM_FAILED_ATTEMPTS))
        .values("endpoint_id")
        .annotate(latest=Max("created_at"))
        .values_list("endpoint_id", "latest")
    )
    if not failing:
        return []
    last_success = (
        WebhookDelivery.all_workspaces.filter(endpoint=OuterRef("pk"), state=DeliveryState.SUCCEEDED)
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    endpoints = (
        WebhookEndpoint.all_workspaces.filter(pk__in=failing, is_active=True)
        .annotate(last_success=Subquery(last_success))
        .values_list("pk", "workspace_id", "url", "last_success")
    )
    return [
        Finding(
            f"endpoint:{pk}",
            workspace_id,
            f"CRM webhook deliveries to {_url_shown(url)} are failing",
            "See the delivery log for the endpoint's answers; failed deliveries can be re-sent from there.",
        )
        for pk, workspace_id, url, succeeded in endpoints
        if succeeded is None or succeeded < failing[pk]
    ]


def _url_shown(url: str) -> str:
    """The endpoint's scheme and host: its path and query may hold a customer's secret."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0]}"


CONDITIONS: tuple[Condition, ...] = (
    Condition("account_suspended", AlertScope.WORKSPACE, "Account suspended", accounts_suspended_find, True),
    Condition("account_rate_limited", AlertScope.WORKSPACE, "Paused by rate limits", accounts_rate_limited_find),
    Condition("token_expiring", AlertScope.WORKSPACE, "Token expiring", tokens_expiring_find),
    Condition("token_invalid", AlertScope.WORKSPACE, "Token expired or revoked", tokens_invalid_find),
    Condition("kill_switch", AlertScope.WORKSPACE, "Kill switch on", kill_switches_find),
    Condition("publish_failed", AlertScope.WORKSPACE, "Publish failed", posts_failed_find),
    Condition("crm_endpoint_failing", AlertScope.WORKSPACE, "CRM deliveries failing", crm_endpoints_failing_find),
    Condition("global_kill_switch", AlertScope.PLATFORM, "Global kill switch on", global_kill_switch_find),
    Condition("inbound_backlog", AlertScope.PLATFORM, "Inbound backlog", inbound_backlog_find),
    Condition("inbound_failures", AlertScope.PLATFORM, "Inbound events failing", inbound_failures_find),
    Condition("webhook_refused", AlertScope.PLATFORM, "Webhook deliveries refused", webhook_refusals_find),
    Condition("heartbeat_missing", AlertScope.PLATFORM, "Process heartbeat missing", heartbeats_missing_find),
)

CONDITION_LABELS: dict[str, str] = {condition.key: condition.label for condition in CONDITIONS}


def condition_by_key(key: str) -> Condition | None:
    return next((condition for condition in CONDITIONS if condition.key == key), None)
