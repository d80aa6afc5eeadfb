"""Human timing: reply delays from the policy's distributions, typing indicators, active hours."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionType, Verdict
from actions.services import action_plan
from safety.policies import SafetyPolicy
from safety.services import gate_evaluate
from safety.timing import active_hours_next_start, reply_delay_draw, timing_parse

POLICY = SafetyPolicy(
    global_per_hour=5000,
    global_per_day=50000,
    account_per_hour=1000,
    account_per_day=10000,
    cooldowns={},
    daily_limits={},
    engine={"active_hours.start_hour": 8, "active_hours.end_hour": 22},
)


@pytest.fixture
def human_timing(settings):
    settings.HUMAN_TIMING = True


def test_delays_follow_the_configured_distribution(human_timing) -> None:
    rng = random.Random(7)
    draws = [reply_delay_draw(action_type="comment_reply", payload={}, rng=rng).total_seconds() for _ in range(2000)]
    assert min(draws) >= 10 and max(draws) <= 300  # policies.yaml: lognormal, median 40 s, within 10–300 s
    assert 35 < sorted(draws)[1000] < 45
    assert len({round(value) for value in draws}) > 50  # not a fixed delay
    dms = [reply_delay_draw(action_type="dm", payload={}, rng=rng).total_seconds() for _ in range(500)]
    assert min(dms) >= 4 and max(dms) <= 25
    assert reply_delay_draw(action_type="dm", payload={"sent_by": 3}) == timedelta(0)  # a person's reply


def test_human_timing_off_means_no_delay(settings) -> None:
    settings.HUMAN_TIMING = False
    assert reply_delay_draw(action_type="comment_reply", payload={}) == timedelta(0)


def test_a_bad_distribution_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"timing.reply_delays.dm.distribution must be one of"):
        timing_parse({"timing": {"reply_delays": {"dm": {"distribution": "gauss", "min_seconds": 1}}}})
    with pytest.raises(ImproperlyConfigured, match=r"timing.reply_delays.dm.min_seconds is above max_seconds"):
        timing_parse(
            {"timing": {"reply_delays": {"dm": {"distribution": "uniform", "min_seconds": 9, "max_seconds": 1}}}}
        )


def test_an_automated_dm_is_delayed_and_preceded_by_a_typing_indicator(human_timing, make_account, workspace) -> None:
    account = make_account(workspace)
    before = timezone.now()
    dm, _ = action_plan(
        account=account, action_type="dm", idempotency_key="k", payload={"recipient_id": "r", "message": "hi"}
    )
    assert timedelta(seconds=4) <= dm.due_at - before <= timedelta(seconds=26)
    typing = Action.all_workspaces.get(action_type=ActionType.SENDER_ACTION)
    assert typing.payload == {"recipient_id": "r", "sender_action": "typing_on", "before_action": dm.pk}
    assert typing.due_at == dm.due_at - timedelta(seconds=3)  # policies.yaml: typing_seconds 3
    # A person's reply goes at once, without a typing indicator planned for it.
    human, _ = action_plan(
        account=account,
        action_type="dm",
        idempotency_key="h",
        payload={"recipient_id": "r", "message": "x", "sent_by": 1},
    )
    assert human.due_at - timezone.now() < timedelta(seconds=1)
    assert Action.all_workspaces.filter(action_type=ActionType.SENDER_ACTION).count() == 1


def test_active_hours_follow_the_accounts_timezone() -> None:
    # 06:30 UTC is 07:30 in Berlin (winter): before 8, so they open at 08:00 Berlin = 07:00 UTC.
    now = datetime(2026, 1, 15, 6, 30, tzinfo=UTC)
    opening = active_hours_next_start(now=now, time_zone="Europe/Berlin", policy=POLICY)
    assert opening == datetime(2026, 1, 15, 7, 0, tzinfo=UTC)
    assert active_hours_next_start(now=now, time_zone="Asia/Tokyo", policy=POLICY) is None  # 15:30 there
    # 22:30 in New York: tomorrow at 8.
    late = datetime(2026, 1, 16, 3, 30, tzinfo=UTC)
    assert active_hours_next_start(now=late, time_zone="America/New_York", policy=POLICY) == datetime(
        2026, 1, 16, 13, 0, tzinfo=UTC
    )
    always = replace(POLICY, engine={})
    assert active_hours_next_start(now=late, time_zone="America/New_York", policy=always) is None


def test_the_gate_holds_proactive_actions_outside_active_hours_but_not_replies(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE, time_zone="Pacific/Kiritimati")  # UTC+14
    local_hour = (timezone.now() + timedelta(hours=14)).hour
    start = (local_hour + 1) % 24  # a one-hour window that is not now
    closed = replace(POLICY, engine={"active_hours.start_hour": start, "active_hours.end_hour": start + 1})
    proactive, _ = action_plan(
        account=account,
        action_type="dm",
        idempotency_key="p",
        payload={"recipient_id": "r", "message": "news", "proactive": True},
    )
    decision = gate_evaluate(action=proactive, account=account, policy=closed)
    assert decision.verdict == Verdict.DEFER
    assert "active hours" in decision.reason and "Pacific/Kiritimati" in decision.reason
    reply, _ = action_plan(
        account=account, action_type="dm", idempotency_key="r", payload={"recipient_id": "s", "message": "hi"}
    )
    assert gate_evaluate(action=reply, account=account, policy=closed).verdict == Verdict.ALLOW
