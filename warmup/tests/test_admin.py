"""The operators' warm-up admin: pages open; extend, restart, skip go through the services, audited (who, why)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client

from accounts.models import AccountState, AccountTransition, InstagramAccount, User
from accounts.services import account_pause
from conftest import log_into_admin
from warmup.models import EventKind, PlanStatus, WarmupEvent, WarmupPlan
from warmup.services import warmup_plan_start, warmup_skip

PLANS_URL = "/admin/warmup/warmupplan/"


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")


@pytest.fixture
def operator_client(client: Client, operator: User) -> Client:
    log_into_admin(client, operator)
    return client


@pytest.fixture
def plan_of(make_account, workspace):
    def make(state: str = AccountState.WARMUP_DAY_3, **fields: Any) -> WarmupPlan:
        account = make_account(workspace, state=state, **fields)
        return warmup_plan_start(account_id=account.pk, cause="connected")

    return make


def state_of(plan: WarmupPlan) -> str:
    return InstagramAccount.all_workspaces.get(pk=plan.account_id).state


def test_list_and_change_pages_open_with_days_and_history(operator_client: Client, plan_of) -> None:
    plan = plan_of()
    listing = operator_client.get(PLANS_URL)
    assert listing.status_code == 200 and str(plan.account) in listing.content.decode()
    page = operator_client.get(f"{PLANS_URL}{plan.pk}/change/").content.decode()
    assert "light" in page  # day 3's row: the light phase and its drawn target
    assert "Extend by a day" in page and "Restart at day 1" in page and "Skip: make active" in page
    account_page = operator_client.get(f"/admin/accounts/instagramaccount/{plan.account_id}/change/").content.decode()
    assert f"{PLANS_URL}{plan.pk}/change/" in account_page


@pytest.mark.parametrize(
    ("path", "state", "kind"),
    [
        ("extend", AccountState.WARMUP_DAY_3, EventKind.EXTEND),
        ("restart", AccountState.WARMUP_DAY_1, EventKind.RESTART),
        ("skip", AccountState.ACTIVE, EventKind.SKIP),
    ],
)
def test_change_page_buttons_call_the_services_with_the_operator_and_the_reason(
    operator_client: Client, operator: User, plan_of, path: str, state: str, kind: str
) -> None:
    plan = plan_of()
    response = operator_client.post(
        f"{PLANS_URL}{plan.pk}/{path}/", {"_form_submitted": "on", "reason": "checked with the client"}
    )
    assert response.status_code == 302
    assert state_of(plan) == state
    event = WarmupEvent.all_workspaces.get(plan=plan, kind=kind)
    assert event.actor == operator and "checked with the client" in event.reason
    if path != "extend":
        transition = AccountTransition.all_workspaces.filter(account_id=plan.account_id).latest("at")
        assert transition.actor == operator and transition.reason == "checked with the client"


def test_a_button_without_a_reason_changes_nothing(operator_client: Client, plan_of) -> None:
    plan = plan_of()
    operator_client.post(f"{PLANS_URL}{plan.pk}/skip/", {"_form_submitted": "on", "reason": ""})
    assert state_of(plan) == AccountState.WARMUP_DAY_3
    assert not WarmupEvent.all_workspaces.filter(kind=EventKind.SKIP).exists()


def test_bulk_skip_asks_for_the_reason_then_skips_and_reports_refusals(
    operator_client: Client, operator: User, plan_of
) -> None:
    warming, paused = plan_of(), plan_of(AccountState.WARMUP_DAY_2)
    account_pause(account_id=paused.account_id, actor=None)
    data: dict[str, Any] = {"action": "skip_plans", "index": "0", ACTION_CHECKBOX_NAME: [warming.pk, paused.pk]}
    asked = operator_client.post(PLANS_URL, data)
    assert asked.status_code == 200 and 'data-testid="warmup-reason"' in asked.content.decode()
    assert state_of(warming) == AccountState.WARMUP_DAY_3
    done = operator_client.post(PLANS_URL, {**data, "apply": "yes", "reason": "agency migration"})
    assert done.status_code == 302
    assert state_of(warming) == AccountState.ACTIVE
    assert state_of(paused) == AccountState.PAUSED
    messages = [str(message) for message in get_messages(done.wsgi_request)]
    assert any(message.startswith("1 made active") for message in messages)
    assert any("1 refused" in message and "paused" in message for message in messages)
    assert WarmupPlan.all_workspaces.get(pk=warming.pk).status == PlanStatus.SKIPPED
    assert WarmupEvent.all_workspaces.get(kind=EventKind.SKIP).actor == operator


def test_bulk_extend_and_restart(operator_client: Client, plan_of) -> None:
    first, second = plan_of(AccountState.WARMUP_DAY_4), plan_of(AccountState.WARMUP_DAY_2)
    warmup_skip(account_id=second.account_id, actor=None, reason="skipped earlier")
    base: dict[str, Any] = {"index": "0", ACTION_CHECKBOX_NAME: [first.pk], "apply": "yes", "reason": "slow down"}
    operator_client.post(PLANS_URL, {**base, "action": "extend_plans"})
    assert WarmupPlan.all_workspaces.get(pk=first.pk).extensions_pending == 1
    operator_client.post(PLANS_URL, {**base, "action": "restart_plans", ACTION_CHECKBOX_NAME: [first.pk, second.pk]})
    assert state_of(first) == state_of(second) == AccountState.WARMUP_DAY_1
