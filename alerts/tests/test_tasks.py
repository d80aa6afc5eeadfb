"""The sweep's schedule is declared in code, reconciled by schedules_sync, and its task is safe to run twice."""

from __future__ import annotations

from io import StringIO

from django.core import mail
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from alerts.models import Alert
from observability.models import Heartbeat, HeartbeatRole
from safety.services import kill_switch_set


def test_schedules_sync_creates_the_alert_sweep_every_minute(db: None) -> None:
    call_command("schedules_sync", stdout=StringIO())
    schedule = Schedule.objects.get(name="alerts: sweep")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 1
    assert schedule.func == "alerts.tasks.alerts_sweep_task" and callable(import_string(schedule.func))


def test_the_task_opens_once_and_is_safe_to_run_twice(workspace, settings) -> None:
    settings.ALERTS_OPERATOR_EMAILS = ["ops@example.com"]
    task = import_string("alerts.tasks.alerts_sweep_task")
    kill_switch_set(workspace_id=workspace.pk, stopped=True, actor=None)
    first = task()
    second = task()
    assert Alert.all_workspaces.filter(condition="kill_switch").count() == 1
    assert first["opened"] >= 1 and second["opened"] == 0 and second["sent"] == 0
    assert sum("Sending is stopped for the whole workspace" in message.subject for message in mail.outbox) == 1


def test_at_a_fresh_start_the_scheduled_sweep_does_not_report_its_own_runner_missing(db, settings) -> None:
    settings.ALERTS_OPERATOR_EMAILS = ["ops@example.com"]
    assert not Heartbeat.objects.exists()  # nothing has beaten yet: the heartbeat's own schedule has not run
    import_string("alerts.tasks.alerts_sweep_task")()
    missing = set(Alert.all_workspaces.filter(condition="heartbeat_missing").values_list("subject", flat=True))
    assert f"heartbeat:{HeartbeatRole.SCHEDULER}" not in missing
    assert f"heartbeat:{HeartbeatRole.DISPATCHER}" in missing  # a dispatcher that never beat is still reported
