"""The account lifecycle: which state may follow which.

``ALLOWED_TRANSITIONS`` is the single table; ``accounts.services.account_transition``
is the single place that changes ``InstagramAccount.state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from accounts.models import AccountState as S

if TYPE_CHECKING:
    from accounts.models import InstagramAccount

WARMUP_DAYS = [getattr(S, f"WARMUP_DAY_{day}") for day in range(1, 8)]
ACTING_STATES = frozenset([*WARMUP_DAYS, S.ACTIVE])
# States an account can be restored to after a pause, review or reconnect.
RESUMABLE_STATES = ACTING_STATES
# States that hold an account; leaving them for an acting state means returning to ``resume_state``.
HOLDING_STATES = frozenset([S.PAUSED, S.SUSPENDED, S.CONNECTING])


def _build_table() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {state: set() for state in S.values}
    table[S.INACTIVE] = {S.CONNECTING}
    # A connection ends in the first warm-up day, or (reconnecting) where the
    # account was; it may also fail or be abandoned.
    # (Back to PAUSED or SUSPENDED only when that is where the account was before its error: see ``return_state``.)
    table[S.CONNECTING] = {*RESUMABLE_STATES, S.PAUSED, S.SUSPENDED, S.ERROR, S.INACTIVE}
    for index, day in enumerate(WARMUP_DAYS):
        following = WARMUP_DAYS[index + 1] if index + 1 < len(WARMUP_DAYS) else S.ACTIVE
        table[day] |= {following, S.WARMUP_DAY_1, S.ACTIVE}  # advance, restart, skip (operator)
        if index > 0:
            table[day].add(WARMUP_DAYS[index - 1])  # step back when risk rises
    for acting in ACTING_STATES:
        table[acting] |= {S.PAUSED, S.SUSPENDED, S.ERROR, S.INACTIVE}
    table[S.ACTIVE].add(S.WARMUP_DAY_1)  # restart a warm-up
    table[S.PAUSED] = {*RESUMABLE_STATES, S.SUSPENDED, S.ERROR, S.INACTIVE}
    table[S.SUSPENDED] = {*RESUMABLE_STATES, S.PAUSED, S.ERROR, S.INACTIVE}
    table[S.ERROR] = {S.CONNECTING, S.INACTIVE}
    for state in table:
        table[state].discard(state)
    return {state: frozenset(targets) for state, targets in table.items()}


ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = _build_table()


def is_allowed(from_state: str, to_state: str) -> bool:
    return to_state in ALLOWED_TRANSITIONS.get(from_state, frozenset())


def return_state(account: InstagramAccount) -> str:
    """Where a held account goes back to when its hold ends: the state it held before, never further.

    - PAUSED (resume): the acting state it was paused in (``resume_state``).
    - SUSPENDED (approve): PAUSED if it was paused when suspended, else the acting state it was suspended in.
    - ERROR or CONNECTING (reconnect): PAUSED or SUSPENDED if it held one when the error came, else the
      acting state it had.

    The acting state defaults to warm-up day 1 for an account that never acted.
    """
    acting = account.resume_state if account.resume_state in ACTING_STATES else S.WARMUP_DAY_1
    if account.state == S.SUSPENDED:
        return S.PAUSED if account.state_before_suspension == S.PAUSED else acting
    if account.state in (S.ERROR, S.CONNECTING) and account.state_before_error in (S.PAUSED, S.SUSPENDED):
        return account.state_before_error
    return acting


def transition_refusal(account: InstagramAccount, to_state: str) -> str | None:
    """Why ``account`` cannot go to ``to_state`` now (a sentence naming it), or None when it can.

    The table decides which states may follow which; a held account (paused,
    in review, reconnecting) may moreover only return to ``return_state``.
    """
    from_state = account.state
    if not is_allowed(from_state, to_state):
        return f"{account} cannot go from {from_state} to {to_state}."
    returning = from_state in HOLDING_STATES and to_state in ACTING_STATES
    if from_state == S.CONNECTING and to_state in (S.PAUSED, S.SUSPENDED):
        returning = True  # a reconnection ends where the account was before its error, nowhere else
    if returning:
        expected = return_state(account)
        if to_state != expected:
            return f"{account} can only return to {expected} from {from_state}, not {to_state}."
    return None
