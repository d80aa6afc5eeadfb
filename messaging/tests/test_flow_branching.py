"""Branching on a quick reply's payload (issue 20): a button's ``goto`` chooses the next step, a step's
``next`` skips the other branch, and a version without either runs exactly as before.

The taps arrive through the real webhook path, in the shape Meta documents
(instagram/tests/fixtures/meta/webhook_messages_quick_reply.json: ``message.quick_reply.payload``).
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import InstagramAccount
from messaging.flows import NEXT_END, option_target, step_following, step_waits_for_tap, steps_validate
from messaging.models import FlowRun, FlowRunStatus
from messaging.tests.test_automation import make_flow, planned, say

pytestmark = pytest.mark.django_db

ORDER: list[dict[str, Any]] = [
    {
        "id": "choose",
        "type": "send_quick_replies",
        "text": "Coffee or tea?",
        "options": [
            {"title": "Coffee", "payload": "COFFEE", "goto": "coffee"},
            {"title": "Tea", "payload": "TEA", "goto": "tea"},
        ],
    },
    {"id": "coffee", "type": "send_text", "text": "Espresso it is.", "next": NEXT_END},
    {"id": "tea", "type": "send_text", "text": "Green tea it is."},
]


def sent(account: InstagramAccount) -> list[str]:
    return [payload["message"] for payload in planned(account)]


def tap(account: InstagramAccount, mid: str, title: str, payload: str) -> None:
    say(account, mid, title, quick_reply={"payload": payload})


@pytest.mark.parametrize(
    ("title", "payload", "answer"),
    [("Tea", "TEA", "Green tea it is."), ("Coffee", "COFFEE", "Espresso it is.")],
)
def test_a_tap_leads_to_its_buttons_step_and_the_other_branch_is_skipped(
    account: InstagramAccount, title: str, payload: str, answer: str
) -> None:
    make_flow(account, ORDER)
    say(account, "m1", "start")
    run = FlowRun.all_workspaces.get()
    # Buttons that lead somewhere wait for the tap, as an "ask" does.
    assert run.status == FlowRunStatus.WAITING and run.step_id == "choose"
    assert sent(account) == ["Coffee or tea?"]
    assert [o["payload"] for o in planned(account)[0]["quick_replies"]] == ["COFFEE", "TEA"]

    tap(account, "m2", title, payload)
    run.refresh_from_db()
    assert run.status == FlowRunStatus.COMPLETED
    assert sent(account) == ["Coffee or tea?", answer]


def test_a_typed_title_follows_the_button_and_an_unknown_answer_goes_on(account: InstagramAccount) -> None:
    make_flow(account, ORDER)
    say(account, "m1", "start")
    say(account, "m2", "  TÉA ")  # typed, not tapped: matched by the title, case and accents folded
    assert sent(account)[-1] == "Green tea it is."

    FlowRun.all_workspaces.all().delete()
    say(account, "m3", "start")
    say(account, "m4", "whatever")  # no button: the next step in the list, which ends the flow (its next)
    assert sent(account)[-1] == "Espresso it is."
    assert FlowRun.all_workspaces.filter(status=FlowRunStatus.COMPLETED).count() == 1


def test_an_ask_stores_the_answer_and_then_follows_the_button(account: InstagramAccount) -> None:
    make_flow(
        account,
        [
            {
                "id": "how",
                "type": "ask",
                "text": "Pickup or delivery?",
                "variable": "mode",
                "options": [
                    {"title": "Pickup", "payload": "PICKUP", "goto": "pickup"},
                    {"title": "Delivery", "payload": "DELIVERY"},  # no goto: the next step
                ],
            },
            {"id": "delivery", "type": "send_text", "text": "Your {mode} address?", "next": NEXT_END},
            {"id": "pickup", "type": "send_text", "text": "See you ({mode})!"},
        ],
    )
    say(account, "m1", "start")
    tap(account, "m2", "Pickup", "PICKUP")
    run = FlowRun.all_workspaces.get()
    assert run.status == FlowRunStatus.COMPLETED and run.variables == {"mode": "PICKUP"}
    assert sent(account) == ["Pickup or delivery?", "See you (PICKUP)!"]


def test_a_version_without_branches_runs_as_before(account: InstagramAccount) -> None:
    """Quick replies without a goto send and go on at once; the next step is the next in the list."""
    make_flow(
        account,
        [
            {"id": "menu", "type": "send_quick_replies", "text": "Menu", "options": [{"title": "A", "payload": "A"}]},
            {"id": "after", "type": "send_text", "text": "And one more thing."},
        ],
    )
    say(account, "m1", "start")
    assert FlowRun.all_workspaces.get().status == FlowRunStatus.COMPLETED
    assert sent(account) == ["Menu", "And one more thing."]


def test_the_step_helpers() -> None:
    steps = ORDER
    assert step_following(steps[0], steps) == "coffee"
    assert step_following(steps[1], steps) == ""  # "#end"
    assert step_following(steps[2], steps) == ""  # the last step
    assert step_following({**steps[2], "next": "choose"}, steps) == "choose"
    assert step_waits_for_tap(steps[0]) and not step_waits_for_tap(steps[1])
    assert not step_waits_for_tap({"type": "send_quick_replies", "options": [{"title": "A", "payload": "A"}]})
    assert option_target(steps[0], "TEA") == "tea"
    assert option_target(steps[0], "coffee") == "coffee"  # the title, typed
    assert option_target(steps[0], "COFFEE please") == ""


def test_targets_of_buttons_and_next_are_validated() -> None:
    broken = [
        {**ORDER[0], "options": [{"title": "A", "payload": "X", "goto": "nowhere"}, {"title": "B", "payload": "X"}]},
        {"id": "b", "type": "send_text", "text": "b", "next": "missing"},
        {"id": "c", "type": "send_text", "text": "c", "next": NEXT_END},
    ]
    errors = steps_validate(broken)
    assert "Step 1 (choose): there is no step 'nowhere' to go to" in errors
    assert "Step 1 (choose): two buttons have the same payload: a tap could not tell them apart" in errors
    assert "Step 2 (b): there is no step 'missing' to go to" in errors
    assert not [error for error in errors if error.startswith("Step 3")]
    assert steps_validate(ORDER) == []
