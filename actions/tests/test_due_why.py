"""When a planned action is due and why, in the account's zone and plain words ("in 40 s: human-like delay")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from accounts.models import AccountState
from actions.models import ActionState, ActionType
from actions.templatetags.planned import countdown, due_why_html
from tests.factories import ActionFactory
from warmup.gate import warmup_gate_check
from warmup.services import warmup_plan_start

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
# Tuesday 5 March 2030, 09:00 in Paris.
NOW = dt.datetime(2030, 3, 5, 9, 0, tzinfo=PARIS)


def shown(action, now: dt.datetime = NOW) -> str:
    return strip_tags(str(due_why_html(action, now=now)))


def test_a_drawn_delay_reads_as_a_countdown(make_account, workspace) -> None:
    account = make_account(workspace, time_zone="Europe/Paris")
    action = ActionFactory.create(account=account, created_at=NOW, due_at=NOW + dt.timedelta(seconds=40))
    assert shown(action) == "in 40 s: human-like delay"
    assert shown(action, NOW + dt.timedelta(seconds=30)) == "in 10 s: human-like delay"
    assert shown(action, NOW + dt.timedelta(seconds=41)) == "due now: human-like delay"


def test_a_warm_up_hold_reads_as_a_time_in_the_accounts_zone_with_the_gates_reason(
    make_account, workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timezone, "now", lambda: NOW.astimezone(dt.UTC))
    account = make_account(workspace, state=AccountState.WARMUP_DAY_2, time_zone="Europe/Paris")
    warmup_plan_start(account_id=account.pk, cause="test")
    action = ActionFactory.create(account=account, created_at=NOW, state=ActionState.CLAIMED)
    held = warmup_gate_check(action=action, account=account, now=NOW)
    assert held is not None
    # What the dispatcher writes for a deferral (actions.dispatcher.claim): due at ``until``, with the reason.
    action.state, action.due_at, action.last_reason = ActionState.PLANNED, held.until, held.reason
    action.save()
    text = shown(action)
    assert text.startswith("tomorrow 12:00 Paris: warm-up day 2 (observation phase): comment replies start on day 3")
    assert "waits until" not in text  # the stored "waits until tomorrow …" would be stale a day later
    html = str(due_why_html(action, now=NOW))
    assert 'title="Wednesday 6 March 2030, 12:00:00 Europe/Paris (11:00:00 UTC)"' in html


def test_the_reasons_of_actions_without_a_deferral(make_account, workspace) -> None:
    account = make_account(workspace, time_zone="Europe/Paris")
    later = NOW + dt.timedelta(minutes=5)

    def planned(**fields: object) -> str:
        return shown(ActionFactory.create(account=account, created_at=NOW, due_at=later, **fields))

    assert planned(action_type=ActionType.SENDER_ACTION) == "in 5 min: typing indicator, shown just before the reply"
    assert planned(action_type=ActionType.PUBLISH) == "in 5 min: scheduled publication"
    assert planned(payload={"sent_by": "ann@shop.example"}).endswith(
        "sent by a person: no delay, waiting for the dispatcher"
    )
    assert (
        shown(ActionFactory.create(account=account, created_at=NOW, due_at=NOW))
        == "due now: waiting for the dispatcher"
    )
    assert shown(ActionFactory.create(account=account, state=ActionState.CLAIMED, due_at=NOW)).endswith(
        "the safety gate is checking it now"
    )


def test_finished_actions_show_nothing(make_account, workspace) -> None:
    account = make_account(workspace)
    for state in (ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED, ActionState.UNKNOWN):
        assert due_why_html(ActionFactory.create(account=account, state=state), now=NOW) == ""


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.2, "in 1 s"), (59, "in 59 s"), (60, "in 1 min"), (61, "in 2 min"), (3600, "in 1 h"), (3900, "in 1 h 5 min")],
)
def test_countdowns(seconds: float, words: str) -> None:
    assert countdown(dt.timedelta(seconds=seconds)) == words


def test_the_ledger_and_the_action_page_show_when_and_why(
    client: Client, make_user, make_workspace, make_account
) -> None:
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    account = make_account(workspace, time_zone="Europe/Paris")
    now = timezone.now()
    action = ActionFactory.create(
        account=account,
        created_at=now,
        due_at=now + dt.timedelta(days=3),
        last_reason="comment replies per hour: 10 of 10 used in the last 1 hour",
    )
    expected_time = (now + dt.timedelta(days=3)).astimezone(PARIS)
    for url in (reverse("action_list"), reverse("action_detail", args=[action.pk])):
        page = client.get(url).content.decode()
        assert 'data-testid="due-why"' in page
        assert f"{expected_time:%H:%M} Paris</time>: comment replies per hour: 10 of 10 used" in page
