"""The pattern detector: repeated texts (varied or deferred), velocity spikes, bursts to one person."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, ActionState, Verdict
from actions.services import action_plan
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind, SafetyEventOutcome
from safety.patterns import text_fingerprint, text_normalise
from safety.policies import SafetyPolicy
from safety.services import gate_evaluate

BASE = SafetyPolicy(
    global_per_hour=5000,
    global_per_day=50000,
    account_per_hour=1000,
    account_per_day=10000,
    cooldowns={},
    daily_limits={},
)


def policy(**engine: int) -> SafetyPolicy:
    return replace(BASE, engine={key.replace("__", "."): value for key, value in engine.items()})


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)


def sent(account, *, text: str = "Thanks!", to: str = "", seconds_ago: float = 10, number: int = 0) -> Action:
    payload: dict[str, Any] = {"comment_id": f"c{number}", "message": text}
    if to:
        payload["commenter_id"] = to
    action, _ = action_plan(account=account, action_type="comment_reply", idempotency_key=f"s{number}", payload=payload)
    Action.all_workspaces.filter(pk=action.pk).update(
        state=ActionState.SUCCEEDED, started_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    return action


def planned(
    account, *, text: str = "Thanks!", to: str = "", variations: list[str] | None = None, key: str = "new"
) -> Action:
    payload: dict[str, Any] = {"comment_id": "new", "message": text}
    if to:
        payload["commenter_id"] = to
    if variations:
        payload["variations"] = variations
    action, _ = action_plan(account=account, action_type="comment_reply", idempotency_key=key, payload=payload)
    return action


def test_texts_are_normalised_before_comparing() -> None:
    assert text_normalise("  Thanks!!  SO much 😊 ") == "thanks so much"
    assert text_fingerprint("Thanks!") == text_fingerprint("thanks")
    assert text_fingerprint("Café") == text_fingerprint("cafe")
    assert text_fingerprint("Thanks!") != text_fingerprint("Thank you!")


def test_a_repeated_text_takes_an_unused_variation_and_records_it(account) -> None:
    for number in range(3):
        sent(account, text="Thanks!", number=number)
    sent(account, text="Thank you so much!", number=9)
    action = planned(account, text="thanks", variations=["Thank you so much!", "Appreciate it!"])
    rules = policy(patterns__repeat_max=3, patterns__repeat_window_seconds=3600)
    decision = gate_evaluate(action=action, account=account, policy=rules)
    assert decision.verdict == Verdict.ALLOW
    assert decision.reason.startswith("pattern: the same text was sent 3 times in 1 h; sent the variation")
    assert decision.reason.endswith("; within every limit")
    action.refresh_from_db()
    assert action.payload["message"] == "Appreciate it!"  # the unused one
    assert action.payload["original_message"] == "thanks"
    assert action.text_fingerprint == text_fingerprint("Appreciate it!")
    event = SafetyEvent.all_workspaces.get(account=account)
    assert (event.kind, event.outcome) == (SafetyEventKind.REPEATED_TEXT, SafetyEventOutcome.VARY)
    assert event.data["variation"] == "Appreciate it!"


def test_a_repeated_text_without_variations_waits_until_the_oldest_leaves_the_window(account) -> None:
    sent(account, number=1, seconds_ago=3000)
    sent(account, number=2, seconds_ago=100)
    action = planned(account)
    decision = gate_evaluate(
        action=action, account=account, policy=policy(patterns__repeat_max=2, patterns__repeat_window_seconds=3600)
    )
    assert decision.verdict == Verdict.DEFER
    assert "same text was sent 2 times" in decision.reason
    assert decision.until is not None
    assert timedelta(seconds=590) < decision.until - timezone.now() < timedelta(seconds=610)
    assert SafetyEvent.all_workspaces.filter(kind=SafetyEventKind.REPEATED_TEXT, outcome="defer").count() == 1
    # Asked again, the same hit is not recorded twice, and the risk score counts it.
    gate_evaluate(
        action=action, account=account, policy=policy(patterns__repeat_max=2, patterns__repeat_window_seconds=3600)
    )
    assert SafetyEvent.all_workspaces.count() == 1
    assert AccountUsage.objects.get(account=account).risk_components["patterns"]["points"] > 0


def test_a_velocity_spike_against_the_accounts_own_baseline_defers(account) -> None:
    rules = policy(patterns__velocity_factor=3, patterns__velocity_window_seconds=600, patterns__velocity_min_actions=4)
    for number in range(4):
        sent(account, text=f"reply {number}", number=number, seconds_ago=30 + number)
    decision = gate_evaluate(action=planned(account, text="another"), account=account, policy=rules)
    assert decision.verdict == Verdict.DEFER
    assert "velocity spike, 4 actions in the last 10 min" in decision.reason
    assert SafetyEvent.all_workspaces.get().kind == SafetyEventKind.VELOCITY_SPIKE


def test_a_busy_account_is_no_spike_at_its_usual_rate(account) -> None:
    rules = policy(patterns__velocity_factor=3, patterns__velocity_window_seconds=600, patterns__velocity_min_actions=4)
    # 4 actions per 10 minutes all day long: 4 now is the usual rate.
    for number in range(4 * 100):
        sent(account, text=f"reply {number}", number=number, seconds_ago=30 + number * 150)
    assert (
        gate_evaluate(action=planned(account, text="another"), account=account, policy=rules).verdict == Verdict.ALLOW
    )


def test_a_burst_of_answers_to_one_person_defers(account) -> None:
    rules = policy(patterns__user_burst_max=2, patterns__user_burst_window_seconds=3600)
    sent(account, text="one", to="fan1", number=1)
    sent(account, text="two", to="fan1", number=2)
    sent(account, text="three", to="fan2", number=3)
    decision = gate_evaluate(action=planned(account, text="four", to="fan1"), account=account, policy=rules)
    assert decision.verdict == Verdict.DEFER
    assert "2 answers to the same person" in decision.reason
    other = planned(account, text="x", to="fan2", key="other")
    assert gate_evaluate(action=other, account=account, policy=rules).verdict == Verdict.ALLOW


def test_a_persons_reply_is_not_checked_for_patterns(account) -> None:
    sent(account, number=1)
    action, _ = action_plan(
        account=account,
        action_type="comment_reply",
        idempotency_key="human",
        payload={"comment_id": "c", "message": "Thanks!", "sent_by": 1},
    )
    rules = policy(patterns__repeat_max=1, patterns__repeat_window_seconds=3600)
    assert gate_evaluate(action=action, account=account, policy=rules).verdict == Verdict.ALLOW
