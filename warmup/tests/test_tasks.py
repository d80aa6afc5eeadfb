"""The schedule that advances warm-ups is declared in code, reconciled by schedules_sync, and its task is idempotent."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionType
from engagement.models import CommentSettings
from instaforge.management.commands.demo_setup import DEMO_ICE_BREAKERS
from instaforge.schedules import SCHEDULES
from messaging.models import DmRule
from warmup.models import EventKind, PlanStatus, WarmupEvent, WarmupPlan
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


@pytest.mark.django_db(transaction=True)
def test_demo_setup_skips_the_demo_accounts_warm_up_as_the_operator_and_says_so(settings: Any) -> None:
    settings.DEBUG = True  # demo mode, as `make up` sets (the test runner turns DEBUG off)
    out = StringIO()
    call_command("demo_setup", stdout=out)
    account = InstagramAccount.all_workspaces.get(username="demo_bakery")
    assert account.state == AccountState.ACTIVE
    assert "Skipped the warm-up of @demo_bakery as the operator operator@instaforge.local" in out.getvalue()
    assert "“demo account”" in out.getvalue()
    plan = WarmupPlan.all_workspaces.get(account=account)
    skip = WarmupEvent.all_workspaces.get(plan=plan, kind=EventKind.SKIP)
    assert plan.status == PlanStatus.SKIPPED and skip.reason == "demo account"
    assert skip.actor is not None and skip.actor.email == "operator@instaforge.local"
    # The demo's ice breakers wait on the ledger for the dispatcher; a DM rule answers them.
    ice_breakers = Action.all_workspaces.get(account=account, action_type=ActionType.MESSENGER_PROFILE)
    assert [item["question"] for item in ice_breakers.payload["ice_breakers"]] == DEMO_ICE_BREAKERS
    assert DmRule.all_workspaces.filter(account=account, keywords__contains="croissant").exists()
    assert CommentSettings.all_workspaces.get(account=account).auto_hide_spam
    call_command("demo_setup", stdout=StringIO())  # idempotent
    assert WarmupEvent.all_workspaces.filter(kind=EventKind.SKIP).count() == 1
    assert Action.all_workspaces.filter(action_type=ActionType.MESSENGER_PROFILE).count() == 1
