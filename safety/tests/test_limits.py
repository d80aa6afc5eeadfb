"""Table tests of every limit the gate enforces: per account (ledger), shared (counters), Meta's ceilings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionState, Verdict
from safety.counters import window_start
from safety.models import SafetyCounter
from safety.policies import SafetyPolicy
from safety.services import gate_evaluate

GENEROUS = SafetyPolicy(
    global_per_hour=100_000,
    global_per_day=100_000,
    account_per_hour=100_000,
    account_per_day=100_000,
    cooldowns={},
    daily_limits={},
)


def policy(**changes: Any) -> SafetyPolicy:
    return SafetyPolicy(**{**GENEROUS.__dict__, **changes})


def started(
    account: InstagramAccount, count: int, *, seconds_ago: float, action_type: str = "comment_reply", **payload: Any
) -> None:
    """``count`` actions of ``account`` that started ``seconds_ago``."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    offset = Action.all_workspaces.count()
    Action.all_workspaces.bulk_create(
        Action(
            workspace_id=account.workspace_id,
            account=account,
            action_type=action_type,
            idempotency_key=f"past-{offset + number}",
            payload=payload,
            state=ActionState.SUCCEEDED,
            started_at=at,
        )
        for number in range(count)
    )


def due(account: InstagramAccount, action_type: str = "comment_reply", **payload: Any) -> Action:
    return Action.all_workspaces.create(
        workspace_id=account.workspace_id,
        account=account,
        action_type=action_type,
        idempotency_key=f"due-{Action.all_workspaces.count()}",
        payload=payload,
        state=ActionState.CLAIMED,
    )


@pytest.fixture
def account(make_account, workspace) -> InstagramAccount:
    return make_account(workspace, state=AccountState.ACTIVE)


AUDIO = {"message": {"attachment": {"type": "audio", "payload": {"url": "https://example.com/a.mp3"}}}}
PREPARE = {"step": "prepare", "containers": 1}

# (policy changes, action type, payload, past actions, seconds ago, reason expected, window in seconds)
LEDGER_CASES = [
    ({"account_per_hour": 3}, "comment_reply", {}, 3, 100, "account hourly limit: 3 of 3", 3600),
    ({"account_per_day": 4}, "comment_reply", {}, 4, 7200, "account daily limit: 4 of 4", 86400),
    ({"hourly_limits": {"comment_replies": 2}}, "comment_reply", {}, 2, 60, "hourly limit for comment replies", 3600),
    ({"daily_limits": {"dms": 2}}, "dm", {}, 2, 7200, "daily limit for dms: 2 of 2", 86400),
    ({"burst_max": 5, "burst_window_seconds": 60}, "comment_reply", {}, 5, 10, "burst limit: 5 of 5", 60),
    # Meta's ceilings hold even when the policy allows far more.
    ({}, "dm", {}, 100, 0.2, "Meta's Send API limit: 100 of 100", 1),
    ({}, "private_reply", {}, 100, 0.2, "Meta's Send API limit: 100 of 100", 1),
    ({}, "dm", AUDIO, 10, 0.2, "Meta's Send API limit for audio and video: 10 of 10", 1),
    ({}, "private_reply", {}, 750, 600, "Meta's private replies limit: 750 of 750", 3600),
    ({}, "sender_action", {}, 100, 0.2, "Meta's Send API limit: 100 of 100", 1),
    ({}, "messenger_profile", {}, 10, 60, "Meta's Messenger Profile API limit: 10 of 10", 600),
    # Media containers are created by a publish action's prepare step, which says how many (one per image here).
    ({}, "publish", PREPARE, 400, 7200, "Meta's media container limit: 400 of 400", 86400),
    ({"daily_limits": {"media_containers": 5}}, "publish", PREPARE, 5, 60, "daily limit for media containers", 86400),
    # The Conversations API (2 calls/s) is called by reconcilers and reads, not by actions: safety/tests/test_graph.py.
]


@pytest.mark.parametrize(("changes", "action_type", "payload", "count", "ago", "reason", "window"), LEDGER_CASES)
def test_each_per_account_limit_defers_at_its_cap_and_allows_below_it(
    account, changes, action_type, payload, count, ago, reason, window
) -> None:
    now = timezone.now()
    started(account, count - 1, seconds_ago=ago, action_type=action_type, **payload)
    below = gate_evaluate(action=due(account, action_type, **payload), account=account, policy=policy(**changes))
    assert below.verdict == Verdict.ALLOW, below.reason
    started(account, 1, seconds_ago=ago, action_type=action_type, **payload)
    decision = gate_evaluate(action=due(account, action_type, **payload), account=account, policy=policy(**changes))
    assert decision.verdict == Verdict.DEFER
    assert reason in decision.reason
    assert decision.until is not None
    # Deferred until the oldest start in the window leaves it.
    assert now - timedelta(seconds=ago) + timedelta(seconds=window) <= decision.until
    assert decision.until <= timezone.now() - timedelta(seconds=ago) + timedelta(seconds=window + 1.5)


def test_text_messages_do_not_count_against_the_audio_video_ceiling(account) -> None:
    started(account, 10, seconds_ago=0.2, action_type="dm")
    assert gate_evaluate(action=due(account, "dm", **AUDIO), account=account, policy=GENEROUS).verdict == Verdict.ALLOW


def test_other_action_types_do_not_count_against_a_per_type_limit(account) -> None:
    started(account, 3, seconds_ago=60, action_type="dm")
    decision = gate_evaluate(action=due(account), account=account, policy=policy(hourly_limits={"comment_replies": 3}))
    assert decision.verdict == Verdict.ALLOW


# (policy changes, reason expected, window)
SHARED_CASES = [
    ({"global_per_hour": 2}, "platform hourly limit: 2 of 2 used (fixed hour window, resets at", "hour"),
    ({"global_per_day": 2}, "platform daily limit: 2 of 2 used (fixed day window, resets at", "day"),
    ({"workspace_per_hour": 2}, "workspace hourly limit: 2 of 2 used (fixed hour window", "hour"),
    ({"workspace_per_day": 2}, "workspace daily limit: 2 of 2 used (fixed day window", "day"),
]


@pytest.mark.parametrize(("changes", "reason", "window"), SHARED_CASES)
def test_each_shared_limit_counts_exactly_and_defers_until_the_window_resets(
    account, make_account, workspace, changes, reason, window
) -> None:
    other = make_account(workspace)  # shared limits count every account of the scope
    now = timezone.now()
    assert gate_evaluate(action=due(account), account=account, policy=policy(**changes), now=now).verdict == "allow"
    assert gate_evaluate(action=due(other), account=other, policy=policy(**changes), now=now).verdict == "allow"
    decision = gate_evaluate(action=due(account), account=account, policy=policy(**changes), now=now)
    assert decision.verdict == Verdict.DEFER
    assert reason in decision.reason
    length = timedelta(hours=1) if window == "hour" else timedelta(days=1)
    assert decision.until == window_start(now, window) + length
    # The refused action took no slot anywhere: every counter of the scope stays at the cap or below.
    assert all(counter.count <= 2 for counter in SafetyCounter.objects.all())


def test_a_refused_shared_slot_gives_back_the_slots_already_taken(account) -> None:
    now = timezone.now()
    tight = policy(global_per_hour=10, workspace_per_hour=1)
    gate_evaluate(action=due(account), account=account, policy=tight, now=now)
    gate_evaluate(action=due(account), account=account, policy=tight, now=now)  # workspace full → deferred
    hour = SafetyCounter.objects.get(scope="global", window="hour")
    assert hour.count == 1


def test_another_workspace_does_not_count_against_this_one(account, make_account, make_workspace) -> None:
    stranger = make_account(make_workspace("Other"))
    now = timezone.now()
    tight = policy(workspace_per_hour=1)
    assert gate_evaluate(action=due(stranger), account=stranger, policy=tight, now=now).verdict == Verdict.ALLOW
    assert gate_evaluate(action=due(account), account=account, policy=tight, now=now).verdict == Verdict.ALLOW


def test_a_cap_of_zero_allows_nothing_and_says_so(account) -> None:
    decision = gate_evaluate(action=due(account), account=account, policy=policy(daily_limits={"comment_replies": 0}))
    assert decision.verdict == Verdict.DEFER
    assert "daily limit for comment replies: 0 of 0" in decision.reason


def test_a_publish_counts_the_containers_it_creates_not_the_actions(account) -> None:
    """Containers: each prepare step weighs what it created (its result), or what it planned while under way."""
    started(account, 36, seconds_ago=3600, action_type="publish", step="prepare", containers=11)  # 396
    Action.all_workspaces.filter(account=account).update(result={"containers": 11})
    # A prepare that stopped before creating any container reports 0; check and publish steps create none.
    started(account, 5, seconds_ago=60, action_type="publish", step="prepare", containers=11)
    Action.all_workspaces.filter(account=account, started_at__gt=timezone.now() - timedelta(minutes=5)).update(
        result={"containers": 0, "deferred_until": "later"}
    )
    started(account, 20, seconds_ago=60, action_type="publish", step="check")
    carousel = gate_evaluate(
        action=due(account, "publish", **{**PREPARE, "containers": 5}), account=account, policy=GENEROUS
    )
    assert carousel.verdict == Verdict.DEFER
    assert "Meta's media container limit: 396 of 400 used" in carousel.reason
    assert "needs 5 containers" in carousel.reason
    # The window frees room when the oldest carousel's 11 containers leave it.
    assert carousel.until is not None
    assert timezone.now() + timedelta(hours=23) - timedelta(seconds=5) <= carousel.until
    image = gate_evaluate(action=due(account, "publish", **PREPARE), account=account, policy=GENEROUS)
    assert image.verdict == Verdict.ALLOW, image.reason
    check = gate_evaluate(action=due(account, "publish", step="check"), account=account, policy=GENEROUS)
    assert check.verdict == Verdict.ALLOW, check.reason
