"""Every allowed transition works and is recorded; every other pair raises and changes nothing."""

from __future__ import annotations

import itertools

import pytest

from accounts.lifecycle import ACTING_STATES, ALLOWED_TRANSITIONS, HOLDING_STATES
from accounts.models import AccountState, AccountTransition, InstagramAccount
from accounts.services import (
    ForbiddenTransition,
    account_approve,
    account_pause,
    account_resume,
    account_suspend,
    account_transition,
)

ALL_PAIRS = list(itertools.product(AccountState.values, AccountState.values))
ALLOWED = [(a, b) for a, b in ALL_PAIRS if b in ALLOWED_TRANSITIONS[a]]
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if b not in ALLOWED_TRANSITIONS[a]]
HELD_BEFORE_ERROR = (AccountState.PAUSED, AccountState.SUSPENDED)


def test_the_table_matches_the_documented_lifecycle() -> None:
    assert ALLOWED_TRANSITIONS[AccountState.INACTIVE] == {AccountState.CONNECTING}
    assert AccountState.WARMUP_DAY_1 in ALLOWED_TRANSITIONS[AccountState.CONNECTING]
    for day in range(1, 7):
        assert f"WARMUP_DAY_{day + 1}" in ALLOWED_TRANSITIONS[f"WARMUP_DAY_{day}"]
    assert AccountState.ACTIVE in ALLOWED_TRANSITIONS[AccountState.WARMUP_DAY_7]
    assert ALLOWED_TRANSITIONS[AccountState.ERROR] == {AccountState.CONNECTING, AccountState.INACTIVE}
    for state, targets in ALLOWED_TRANSITIONS.items():
        assert state not in targets, f"{state} may not transition to itself"


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_allowed_transition_changes_state_and_is_recorded(
    make_account, workspace, make_user, from_state: str, to_state: str
) -> None:
    # A held account (paused, in review, reconnecting) returns to the state it left: make that the target.
    resume_state = to_state if from_state in HOLDING_STATES and to_state in ACTING_STATES else ""
    # A reconnection ends in PAUSED or SUSPENDED only when that is what the account held before its error.
    reconnecting_to_hold = from_state == AccountState.CONNECTING and to_state in HELD_BEFORE_ERROR
    state_before_error = to_state if reconnecting_to_hold else ""
    account = make_account(
        workspace, state=from_state, resume_state=resume_state, state_before_error=state_before_error
    )
    actor = make_user()
    account_transition(account_id=account.pk, to_state=to_state, actor=actor, cause="test", reason="because")
    account.refresh_from_db()
    assert account.state == to_state
    record = AccountTransition.all_workspaces.get(account=account)
    assert (record.from_state, record.to_state, record.actor, record.cause, record.reason) == (
        from_state,
        to_state,
        actor,
        "test",
        "because",
    )
    assert record.workspace_id == workspace.pk


@pytest.mark.parametrize(("from_state", "to_state"), FORBIDDEN)
def test_forbidden_transition_raises_and_changes_nothing(
    make_account, workspace, from_state: str, to_state: str
) -> None:
    account = make_account(workspace, state=from_state)
    with pytest.raises(ForbiddenTransition):
        account_transition(account_id=account.pk, to_state=to_state, cause="test")
    account.refresh_from_db()
    assert account.state == from_state
    assert not AccountTransition.all_workspaces.filter(account=account).exists()


def test_pause_and_resume_return_to_the_same_warmup_day(make_account, workspace, make_user) -> None:
    person = make_user()
    account = make_account(workspace, state=AccountState.WARMUP_DAY_4)
    account_pause(account_id=account.pk, actor=person)
    assert InstagramAccount.all_workspaces.get(pk=account.pk).state == AccountState.PAUSED
    account_resume(account_id=account.pk, actor=person)
    assert InstagramAccount.all_workspaces.get(pk=account.pk).state == AccountState.WARMUP_DAY_4


def test_approval_after_review_restores_the_state_before_suspension(make_account, workspace, make_user) -> None:
    operator = make_user()
    account = make_account(workspace, state=AccountState.ACTIVE)
    account_suspend(account_id=account.pk, actor=None, cause="safety engine", reason="policy block (368)")
    account_approve(account_id=account.pk, actor=operator, reason="looked fine")
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    causes = list(
        AccountTransition.all_workspaces.filter(account=account).order_by("at", "id").values_list("cause", flat=True)
    )
    assert causes == ["safety engine", "approved after review"]


@pytest.mark.parametrize("held_state", [AccountState.PAUSED, AccountState.SUSPENDED, AccountState.CONNECTING])
def test_a_held_account_returns_only_to_the_state_it_left(make_account, workspace, held_state: str) -> None:
    account = make_account(workspace, state=held_state, resume_state=AccountState.WARMUP_DAY_3)
    with pytest.raises(ForbiddenTransition):
        account_transition(account_id=account.pk, to_state=AccountState.ACTIVE, cause="test")
    account_transition(account_id=account.pk, to_state=AccountState.WARMUP_DAY_3, cause="test")
    account.refresh_from_db()
    assert (account.state, account.resume_state) == (AccountState.WARMUP_DAY_3, "")


def test_resume_refuses_an_account_that_is_not_paused(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    with pytest.raises(ForbiddenTransition):
        account_resume(account_id=account.pk, actor=None)
