"""Writes of alerts: the sweep that opens, keeps and resolves them, their notifications, a workspace's channels.

``alerts_sweep`` (the ``alerts: sweep`` schedule, every minute) reads every condition
(``alerts.conditions``) from the database and compares what holds now with the open alerts:

- a subject newly found opens an alert, with an "opened" notification per audience and channel, in one
  transaction; the unique constraint on open alerts makes a second sweep at the same time a no-op;
- a subject found again only moves the open alert's ``last_seen_at``: one alert per condition until it
  clears, however many sweeps see it;
- an open alert whose subject is no longer found is resolved, with a "resolved" notification.

Then every notification not yet sent is sent. A channel that fails (a mail server down, a Slack URL that
answers 500) never stops the sweep: the failure is logged (redacted) and stored, and the notification is
tried again at the next sweep, up to ``NOTIFICATION_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import workspace_manager_emails
from accounts.vault import TokenDecryptionError, token_decrypt, token_encrypt
from alerts.channels import email_send, slack_post, url_redacted
from alerts.conditions import CONDITIONS, Condition, Finding, condition_by_key
from alerts.models import (
    Alert,
    AlertNotification,
    AlertScope,
    AlertSettings,
    NotificationAudience,
    NotificationChannel,
    NotificationEvent,
    NotificationState,
)
from instaforge.redaction import secrets_redact

logger = logging.getLogger(__name__)

# A notification still failing after this many sweeps (one a minute) is given up, and says why.
NOTIFICATION_MAX_ATTEMPTS = 30
NOTIFICATIONS_PER_SWEEP = 200


# --- the sweep --------------------------------------------------------------------------------------------
def alerts_sweep(*, now: datetime | None = None, conditions: tuple[Condition, ...] = CONDITIONS) -> dict[str, int]:
    """Evaluate every condition, open, keep and resolve alerts, then send the notifications due. Safe to run twice.

    A condition whose read fails is logged and skipped: its open alerts stay open (nothing is resolved on
    a read that did not happen), and the other conditions go on.
    """
    now = now or timezone.now()
    counts = {"opened": 0, "kept": 0, "resolved": 0}
    for condition in conditions:
        try:
            findings = condition.find(now)
        except Exception:
            logger.exception("Alert condition %s could not be evaluated", condition.key)
            continue
        for outcome, number in condition_apply(condition=condition, findings=findings, now=now).items():
            counts[outcome] += number
    counts.update(alert_notifications_send(now=now))
    return counts


def condition_apply(*, condition: Condition, findings: list[Finding], now: datetime) -> dict[str, int]:
    """Open an alert per subject newly found, keep those found again, resolve those no longer found."""
    found = {finding.subject: finding for finding in findings}
    open_alerts = {
        alert.subject: alert
        for alert in Alert.all_workspaces.filter(condition=condition.key, resolved_at__isnull=True).order_by("id")
    }
    kept = [alert.pk for subject, alert in open_alerts.items() if subject in found]
    if kept:
        Alert.all_workspaces.filter(pk__in=kept, resolved_at__isnull=True).update(last_seen_at=now)
    opened = sum(
        1
        for subject, finding in found.items()
        if subject not in open_alerts and alert_open(condition=condition, finding=finding, now=now) is not None
    )
    resolved = sum(
        1
        for subject, alert in open_alerts.items()
        if subject not in found and alert_resolve(alert=alert, now=now, condition=condition)
    )
    return {"opened": opened, "kept": len(kept), "resolved": resolved}


def alert_open(*, condition: Condition, finding: Finding, now: datetime) -> Alert | None:
    """Open the alert and its "opened" notifications; None when an open one exists already (another sweep)."""
    workspace_id = finding.workspace_id if condition.scope == AlertScope.WORKSPACE else None
    try:
        with transaction.atomic():
            alert = Alert.all_workspaces.create(
                workspace_id=workspace_id,
                scope=condition.scope,
                condition=condition.key,
                subject=finding.subject,
                title=finding.title[:200],
                detail=secrets_redact(finding.detail)[:1000],
                opened_at=now,
                last_seen_at=now,
            )
            _notifications_create(alert=alert, condition=condition, event=NotificationEvent.OPENED, now=now)
    except IntegrityError:
        return None
    logger.info("Alert %s opened: %s (%s)", alert.pk, alert.title, alert.condition)
    return alert


def alert_resolve(*, alert: Alert, now: datetime, condition: Condition | None = None) -> bool:
    """Resolve an open alert and write its "resolved" notifications. False when it was resolved already."""
    with transaction.atomic():
        if not Alert.all_workspaces.filter(pk=alert.pk, resolved_at__isnull=True).update(resolved_at=now):
            return False
        alert.resolved_at = now
        condition = condition or condition_by_key(alert.condition)
        _notifications_create(alert=alert, condition=condition, event=NotificationEvent.RESOLVED, now=now)
    logger.info("Alert %s resolved: %s (%s)", alert.pk, alert.title, alert.condition)
    return True


def alert_acknowledge(*, alert: Alert, user: User) -> Alert:
    """A member has seen the alert (shown on the page). It still resolves only when its condition clears."""
    if alert.acknowledged_at is None:
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = user
        alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    return alert


def _audiences(alert: Alert, condition: Condition | None) -> list[str]:
    if alert.scope == AlertScope.PLATFORM:
        return [NotificationAudience.OPERATORS]
    if condition is not None and condition.also_operators:
        return [NotificationAudience.WORKSPACE, NotificationAudience.OPERATORS]
    return [NotificationAudience.WORKSPACE]


def _notifications_create(*, alert: Alert, condition: Condition | None, event: str, now: datetime) -> None:
    rows = []
    for audience in _audiences(alert, condition):
        channels = [NotificationChannel.EMAIL]
        if _slack_url(audience=audience, workspace_id=alert.workspace_id):
            channels.append(NotificationChannel.SLACK)
        rows += [
            AlertNotification(
                alert=alert,
                workspace_id=alert.workspace_id,
                event=event,
                audience=audience,
                channel=channel,
                created_at=now,
            )
            for channel in channels
        ]
    AlertNotification.all_workspaces.bulk_create(rows)


# --- sending ----------------------------------------------------------------------------------------------
def alert_notifications_send(*, now: datetime | None = None, limit: int = NOTIFICATIONS_PER_SWEEP) -> dict[str, int]:
    """Send the notifications not sent yet, oldest first. Each is claimed (its attempt counted) before it is sent,
    so two sweeps at once send it once; one that fails waits for the next sweep."""
    now = now or timezone.now()
    counts = {"sent": 0, "failed": 0}
    pending = AlertNotification.all_workspaces.filter(state=NotificationState.PENDING).select_related("alert")
    for notification in list(pending.order_by("created_at", "id")[:limit]):
        claimed = AlertNotification.all_workspaces.filter(
            pk=notification.pk, state=NotificationState.PENDING, attempts=notification.attempts
        ).update(attempts=F("attempts") + 1)
        if not claimed:
            continue
        attempts = notification.attempts + 1
        try:
            note = _deliver(notification)
        except Exception as exc:  # any channel's failure: recorded, retried, never the sweep's end
            error = secrets_redact(f"{type(exc).__name__}: {exc}")[:500]
            gave_up = attempts >= NOTIFICATION_MAX_ATTEMPTS
            logger.warning(
                "Alert notification %s (%s by %s to %s) failed, attempt %s%s: %s",
                notification.pk,
                notification.event,
                notification.channel,
                notification.audience,
                attempts,
                ", given up" if gave_up else "",
                error,
            )
            AlertNotification.all_workspaces.filter(pk=notification.pk).update(
                state=NotificationState.FAILED if gave_up else NotificationState.PENDING, last_error=error
            )
            counts["failed"] += 1
        else:
            AlertNotification.all_workspaces.filter(pk=notification.pk).update(
                state=NotificationState.SENT, sent_at=timezone.now(), last_error=note
            )
            counts["sent"] += 1
    return counts


def _deliver(notification: AlertNotification) -> str:
    """Send one notification; a note when there was nobody to send it to (it counts as sent)."""
    alert = notification.alert
    subject, body = _message(alert=alert, event=notification.event, audience=notification.audience)
    if notification.channel == NotificationChannel.EMAIL:
        recipients = _email_recipients(audience=notification.audience, workspace_id=alert.workspace_id)
        if not recipients:
            return "nobody to email"
        email_send(recipients=recipients, subject=subject, body=body)
        return ""
    url = _slack_url(audience=notification.audience, workspace_id=alert.workspace_id)
    if not url:
        return "no Slack webhook URL any more"
    slack_post(url=url, text=f"*{subject}*\n{body}")
    return ""


def _message(*, alert: Alert, event: str, audience: str) -> tuple[str, str]:
    if audience == NotificationAudience.OPERATORS:
        link = settings.SITE_URL + reverse("admin:alerts_alert_change", args=[alert.pk])
    else:
        link = settings.SITE_URL + reverse("alert_detail", args=[alert.pk])
    if event == NotificationEvent.RESOLVED:
        lasted = int(((alert.resolved_at or timezone.now()) - alert.opened_at).total_seconds() // 60)
        return (
            f"[InstaForge] Resolved: {alert.title}",
            f"Resolved at {alert.resolved_at:%Y-%m-%d %H:%M} UTC, after {lasted} min.\n{link}",
        )
    detail = f"{alert.detail}\n" if alert.detail else ""
    return f"[InstaForge] Alert: {alert.title}", f"{detail}Since {alert.opened_at:%Y-%m-%d %H:%M} UTC.\n{link}"


def _email_recipients(*, audience: str, workspace_id: int | None) -> list[str]:
    if audience == NotificationAudience.OPERATORS:
        if settings.ALERTS_OPERATOR_EMAILS:
            return list(settings.ALERTS_OPERATOR_EMAILS)
        operators = User.objects.filter(Q(is_superuser=True) | Q(is_staff=True), is_active=True)
        return sorted(operators.values_list("email", flat=True))
    if workspace_id is None:
        return []
    return workspace_manager_emails(workspace_id=workspace_id)


def _slack_url(*, audience: str, workspace_id: int | None) -> str:
    if audience == NotificationAudience.OPERATORS:
        return str(settings.ALERTS_SLACK_WEBHOOK_URL)
    return alert_settings_slack_url(workspace_id=workspace_id) if workspace_id is not None else ""


# --- a workspace's channels ---------------------------------------------------------------------------------
def alert_settings_slack_url(*, workspace_id: int) -> str:
    """The workspace's Slack webhook URL, or "" (none set, or no configured key decrypts it: logged)."""
    stored = (
        AlertSettings.all_workspaces.filter(workspace_id=workspace_id)
        .values_list("slack_webhook_url_encrypted", flat=True)
        .first()
    )
    if not stored:
        return ""
    try:
        return token_decrypt(ciphertext=stored)
    except TokenDecryptionError:
        logger.warning("The Slack webhook URL of workspace %s does not decrypt with the configured keys", workspace_id)
        return ""


def alert_settings_slack_set(*, workspace_id: int, url: str) -> AlertSettings:
    """Store (encrypted) or clear the workspace's Slack webhook URL. The caller checked it (outbound_url_problem)."""
    row, _ = AlertSettings.all_workspaces.get_or_create(workspace_id=workspace_id)
    row.slack_webhook_url_encrypted = token_encrypt(plaintext=url) if url else ""
    row.updated_at = timezone.now()
    row.save(update_fields=["slack_webhook_url_encrypted", "updated_at"])
    return row


def slack_url_shown(url: str) -> str:
    return url_redacted(url) if url else ""
