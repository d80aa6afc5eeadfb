"""`manage.py demo_setup` (what `make up` runs): the demo account skips its warm-up as the operator, idempotently."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionType
from devtools.management.commands.demo_setup import DEMO_ICE_BREAKERS
from engagement.models import CommentSettings
from messaging.models import DmRule
from warmup.models import EventKind, PlanStatus, WarmupEvent, WarmupPlan


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
