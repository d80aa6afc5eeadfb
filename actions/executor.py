"""Runs an allowed action against Instagram. The only caller of the client's writes.

What each action type does lives in its spec (``actions.specs``), declared by the
app that owns the type in its ``executors.py``; the client comes from the one
builder (``safety.graph.graph_client``), so every answer's usage reaches safety.
"""

from __future__ import annotations

from typing import Any

from actions.models import Action
from actions.specs import Reconciliation, action_spec
from safety.graph import graph_client

__all__ = ["Reconciliation", "action_execute", "action_reconcile"]


def action_execute(*, action: Action) -> dict[str, Any]:
    """Call Instagram for ``action``. Raises the client's typed errors."""
    return action_spec(action.action_type).run(action, graph_client(account=action.account))


def action_reconcile(*, action: Action) -> Reconciliation:
    """Whether Instagram shows that ``action``, whose outcome was unknown, happened."""
    return action_spec(action.action_type).reconcile(action, graph_client(account=action.account))
