"""The account lifecycle: which state may follow which.

``ALLOWED_TRANSITIONS`` is the single table; ``accounts.services.account_transition``
is the single place that changes ``InstagramAccount.state``.
"""

from __future__ import annotations

from accounts.models import AccountState as S

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
    table[S.CONNECTING] = {*RESUMABLE_STATES, S.ERROR, S.INACTIVE}
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
