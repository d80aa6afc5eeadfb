"""Each outcome of a sent action reaches the safety engine once, through its one entry point.

``safety.services.action_outcome_observe`` is the only call the dispatcher makes to the safety engine
about an outcome; a rate limit used to be reported twice (the regain time, then the error). Driven
through ``dispatch_once``, which runs the production path (claim and gate in one transaction, a
pool of one sender, the outcome writer), against the sandbox over HTTP.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings

from actions.dispatcher import loop, sending
from actions.dispatcher.loop import dispatch_once
from actions.models import ActionState
from actions.tests.conftest import Connected, plan_reply
from instagram.errors import GraphAPIError, NotSentError, RateLimitedError
from instagram.tests import misbehaving
from safety import services as safety_services
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind
from sandbox.services import sandbox_fault_add


@pytest.fixture
def observed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str, Exception | None]]:
    """Every call of the dispatcher to the safety engine about an outcome: (action id, new state, error)."""
    calls: list[tuple[int, str, Exception | None]] = []
    real = sending.action_outcome_observe

    def spy(*, action: Any, outcome: str, error: Exception | None = None) -> None:
        calls.append((action.pk, outcome, error))
        real(action=action, outcome=outcome, error=error)

    monkeypatch.setattr(sending, "action_outcome_observe", spy)
    return calls


def _calls_of(monkeypatch: pytest.MonkeyPatch, name: str) -> list[dict[str, Any]]:
    """Spy on one of the safety engine's writes, as the entry point calls it."""
    calls: list[dict[str, Any]] = []
    real = getattr(safety_services, name)

    def spy(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(safety_services, name, spy)
    return calls


@pytest.mark.parametrize("code", [4, 17, 613])
def test_a_rate_limit_is_reported_to_the_safety_engine_once_and_recorded_once(
    connected: Connected, monkeypatch: pytest.MonkeyPatch, observed: list[tuple[int, str, Exception | None]], code: int
) -> None:
    regain_writes = _calls_of(monkeypatch, "rate_limit_observe")
    sandbox_fault_add(
        account_username=connected.sandbox_account.username, path_pattern="replies", kind="error", code=code, times=1
    )
    action = plan_reply(connected)
    assert dispatch_once(worker_id="w") == 1
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED

    # One call about the outcome, with the rate limit; one regain time written; one safety event.
    assert [(action_id, state, type(error)) for action_id, state, error in observed] == [
        (action.pk, ActionState.PLANNED, RateLimitedError)
    ]
    assert len(regain_writes) == 1 and regain_writes[0]["code"] == code
    events = SafetyEvent.all_workspaces.filter(account=connected.account)
    assert [(event.kind, event.code, event.action_id_ref) for event in events] == [
        (SafetyEventKind.RATE_LIMIT, code, action.pk)
    ]
    usage = AccountUsage.objects.get(account=connected.account)
    assert usage.regain_at is not None and usage.regain_at > timezone.now()
    assert f"code {code}" in usage.regain_reason


@pytest.mark.parametrize(
    ("fault", "state", "error"),
    [
        (None, ActionState.SUCCEEDED, None),
        ({"kind": "error", "code": 100}, ActionState.FAILED, GraphAPIError),
        ({"kind": "status", "status": 503}, ActionState.UNKNOWN, GraphAPIError),
        ({"kind": "policy_block"}, ActionState.PLANNED, GraphAPIError),
        ({"kind": "revoke"}, ActionState.PLANNED, GraphAPIError),
    ],
)
def test_every_outcome_reaches_the_safety_engine_once(
    connected: Connected,
    observed: list[tuple[int, str, Exception | None]],
    fault: dict[str, Any] | None,
    state: str,
    error: type[Exception] | None,
) -> None:
    if fault is not None:
        sandbox_fault_add(account_username=connected.sandbox_account.username, path_pattern="replies", times=1, **fault)
    action = plan_reply(connected)
    dispatch_once(worker_id="w")
    action.refresh_from_db()
    assert action.state == state
    assert len(observed) == 1
    action_id, outcome, raised = observed[0]
    assert (action_id, outcome) == (action.pk, state)
    assert raised is None if error is None else isinstance(raised, error)


def test_a_call_that_reached_no_one_reaches_the_safety_engine_once_and_gives_its_slots_back(
    connected: Connected, settings: Settings, monkeypatch: pytest.MonkeyPatch, observed: list
) -> None:
    give_backs = _calls_of(monkeypatch, "counters_give_back")
    action = plan_reply(connected)
    with misbehaving.refusing_address() as refusing:
        settings.INSTAGRAM_GRAPH_URL = refusing
        dispatch_once(worker_id="w")
    assert [(action_id, type(error)) for action_id, _, error in observed] == [(action.pk, NotSentError)]
    assert len(give_backs) == 1
    assert not SafetyEvent.all_workspaces.exists()


def test_dispatch_once_runs_the_production_path(connected: Connected, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claimed and gated together (``actions_claim_and_gate``), sent by ``Senders``, outcomes by the writer."""
    claims: list[int] = []
    submitted: list[int] = []
    real_claim, real_submit = loop.actions_claim_and_gate, sending.Senders.submit

    def claim(**kwargs: Any) -> Any:
        count, allowed = real_claim(**kwargs)
        claims.append(count)
        return count, allowed

    def submit(self: sending.Senders, action: Any, *, worker_id: str) -> None:
        submitted.append(action.pk)
        real_submit(self, action, worker_id=worker_id)

    monkeypatch.setattr(loop, "actions_claim_and_gate", claim)
    monkeypatch.setattr(sending.Senders, "submit", submit)
    first, second = plan_reply(connected, key="one"), plan_reply(connected, key="two")
    assert dispatch_once(worker_id="w") == 2
    # One action per pass (a pool of one), until nothing is due: the second meets the first's cooldown.
    assert claims == [1, 1, 0]
    assert submitted == [first.pk]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == ActionState.SUCCEEDED  # written before dispatch_once returned
    assert second.state == ActionState.PLANNED and "cooldown" in second.last_reason


def test_the_dispatcher_reaches_the_safety_engine_only_through_its_entry_points() -> None:
    """What the dispatcher imports from ``safety``: the gate, the one call per outcome, the housekeeping."""
    package = Path(sending.__file__).parent
    imported: set[tuple[str, str]] = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "safety":
                imported |= {(str(node.module), alias.name) for alias in node.names}
            elif isinstance(node, ast.Import):
                assert not any(alias.name.startswith("safety") for alias in node.names), source
    assert imported == {
        ("safety.decision", "Decision"),
        ("safety.services", "gate_evaluate_many"),
        ("safety.services", "action_outcome_observe"),
        ("safety.services", "safety_housekeep"),
    }
