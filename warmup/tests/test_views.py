"""The member's warm-up timeline (page and account card), and another workspace's 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, InstagramAccount
from accounts.services import account_pause
from warmup.models import WarmupDay
from warmup.services import warmup_days_advance, warmup_extend, warmup_plan_start, warmup_skip
from warmup.tests.conftest import Clock, started, tokyo


@pytest.fixture
def member(client: Client, make_user, make_workspace, clock: Clock) -> dict[str, Any]:
    """Logged in at the simulated time (a session made at the real time would have expired by 2030)."""
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    return {"user": user, "workspace": workspace}


@pytest.fixture
def account(member: dict[str, Any], make_account, clock: Clock) -> InstagramAccount:
    account = make_account(member["workspace"], state=AccountState.WARMUP_DAY_1, time_zone="Asia/Tokyo")
    warmup_plan_start(account_id=account.pk, cause="connected as @brand")
    return account


def test_the_timeline_shows_seven_days_todays_budget_and_the_next_step(
    client: Client, account: InstagramAccount, clock: Clock, django_assert_max_num_queries
) -> None:
    WarmupDay.all_workspaces.filter(plan__account=account).update(target=8)
    for minute in range(3):
        started(account, "dm", tokyo(4, 8, minute))
    clock.set(tokyo(5, 9))  # the schedule ran at midnight: day 2
    warmup_days_advance()
    WarmupDay.all_workspaces.filter(plan__account=account, day=2).update(target=6)
    started(account, "dm", tokyo(5, 8, 30))
    warmup_extend(account_id=account.pk, actor=None, reason="a quiet start")

    with django_assert_max_num_queries(20):
        response = client.get(reverse("account_warmup", args=[account.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    for day in range(1, 8):
        assert f'data-testid="warmup-day-{day}"' in page
    assert 'data-testid="warmup-day-1" data-status="done"' in page
    assert 'data-testid="warmup-day-2" data-status="current"' in page
    assert 'data-testid="warmup-day-3" data-status="upcoming"' in page
    assert "<strong>3 / 8</strong>" in page  # day 1: used / target
    assert "<strong>1 / 6</strong>" in page  # day 2 (today)
    assert "<strong>20–30</strong>" in page  # day 3: the range, not drawn yet
    assert "Day 2 of 7</strong> · today's budget: <strong>1</strong> of 6 actions used, 5 left." in page
    assert (
        'Next step at local midnight: <time datetime="2030-03-05T15:00:00Z" '
        'title="Wednesday 6 March 2030, 00:00:00 Asia/Tokyo (5 Mar 15:00:00 UTC)">tomorrow 00:00 Tokyo</time>: '
        "day 2 is repeated then"
    ) in page
    assert "a quiet start" in page and "Extended" in page
    assert "12:00–14:00" in page and "comment replies" in page


def test_holds_show_with_their_reason(client: Client, account: InstagramAccount, clock: Clock) -> None:
    account_pause(account_id=account.pk, actor=None)
    page = client.get(reverse("account_warmup", args=[account.pk])).content.decode()
    assert 'data-testid="warmup-held"' in page and "days do not count" in page
    client.post(reverse("account_resume", args=[account.pk]))
    clock.set(tokyo(5, 0, 10))
    # Resumed before midnight: the day counts. Paused again at midnight of the 6th: held.
    warmup_days_advance()
    account_pause(account_id=account.pk, actor=None)
    clock.set(tokyo(6, 9))
    client.post(reverse("account_resume", args=[account.pk]))
    warmup_days_advance()
    page = client.get(reverse("account_warmup", args=[account.pk])).content.decode()
    assert "Held on the day" in page and "the account was paused at local midnight" in page


def test_the_account_page_shows_the_warm_up_card_only_while_warming_up(
    client: Client, account: InstagramAccount
) -> None:
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'data-testid="warmup-card"' in page and 'data-testid="warmup-budget"' in page
    assert reverse("account_warmup", args=[account.pk]) in page
    warmup_skip(account_id=account.pk, actor=None, reason="demo account")
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'data-testid="warmup-card"' not in page
    history = client.get(reverse("account_warmup", args=[account.pk])).content.decode()
    assert 'data-testid="warmup-finished"' in history and "skipped by an operator" in history.lower()
    assert "demo account" in history


def test_an_account_without_a_warm_up_has_an_empty_state(client: Client, member: dict[str, Any], make_account) -> None:
    active = make_account(member["workspace"], state=AccountState.ACTIVE)
    page = client.get(reverse("account_warmup", args=[active.pk])).content.decode()
    assert 'data-testid="warmup-none"' in page and "Nothing recorded yet." in page


def test_another_workspace_gets_404(client: Client, account: InstagramAccount, make_user, make_workspace) -> None:
    stranger = make_user("stranger@example.com")
    make_workspace("Other", owner=stranger)
    client.force_login(stranger)
    assert client.get(reverse("account_warmup", args=[account.pk])).status_code == 404
