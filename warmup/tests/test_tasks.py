"""The schedule that advances warm-ups is declared in code, reconciled by schedules_sync, and its task is idempotent."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from accounts.models import AccountState, InstagramAccount
from instaforge.schedules import SCHEDULES
from warmup.tests.conftest import Clock, tokyo


def test_schedules_sync_creates_the_warm_up_schedule(db: None) -> None:
    call_command("schedules_sync", stdout=StringIO())
    schedule = Schedule.objects.get(name="warmup: advance days")
    assert schedule.schedule_type == Schedule.MINUTES and schedule.minutes == 5
    assert callable(import_string(schedule.func))
    assert [spec.name for spec in SCHEDULES].count("warmup: advance days") == 1


def test_the_task_advances_and_is_safe_to_run_twice(warming: InstagramAccount, clock: Clock) -> None:
    task = import_string("warmup.tasks.warmup_days_advance_due")
    clock.set(tokyo(5, 0, 3))
    assert task() == {"started": 0, "steps": 1, "failed": 0}
    assert task() == {"started": 0, "steps": 0, "failed": 0}
    assert InstagramAccount.all_workspaces.get(pk=warming.pk).state == AccountState.WARMUP_DAY_2
