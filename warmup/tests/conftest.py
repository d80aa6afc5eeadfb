"""Fixtures of the warm-up's tests: a settable clock, and a warming-up account in a time zone far from UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionState
from tests.factories import ActionFactory
from warmup.services import warmup_plan_start

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9 all year: a local midnight is 15:00 UTC the day before


@dataclass
class Clock:
    now: datetime

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """``django.utils.timezone.now`` under the test's control; starts on Monday 4 March 2030, 09:00 in Tokyo."""
    current = Clock(datetime(2030, 3, 4, 9, 0, tzinfo=TOKYO))
    monkeypatch.setattr(timezone, "now", lambda: current.now.astimezone(ZoneInfo("UTC")))
    return current


def tokyo(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of March 2030 in Tokyo."""
    return datetime(2030, 3, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def warming(clock: Clock, make_account, workspace) -> InstagramAccount:
    """An account on warm-up day 1 in Tokyo, its plan started on 4 March 2030 (local)."""
    account = make_account(workspace, state=AccountState.WARMUP_DAY_1, time_zone="Asia/Tokyo")
    warmup_plan_start(account_id=account.pk, cause="connected for the test")
    return account


def started(account: InstagramAccount, action_type: str, at: datetime, **payload: Any) -> Action:
    """An action of the account that started at ``at`` (it counts toward that local day's budget)."""
    return ActionFactory.create(
        account=account,
        action_type=action_type,
        idempotency_key=f"done-{Action.all_workspaces.count()}",
        payload=payload,
        state=ActionState.SUCCEEDED,
        started_at=at,
        finished_at=at,
    )


def claimed(account: InstagramAccount, action_type: str, **payload: Any) -> Action:
    return ActionFactory.create(
        account=account,
        action_type=action_type,
        idempotency_key=f"claimed-{Action.all_workspaces.count()}",
        payload=payload,
        state=ActionState.CLAIMED,
    )
