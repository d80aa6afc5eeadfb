"""django-q2 tasks of the inbox: thin, idempotent, by id."""

from __future__ import annotations

from accounts.tenancy import workspace_scope
from messaging.automation import flow_runs_resume_due
from messaging.services import conversation_profile_refresh


def conversation_profile_fetch(workspace_id: int, conversation_id: int) -> str:
    """Read the person's username and name from Instagram. Safe to run twice (skips a known profile)."""
    with workspace_scope(workspace_id):
        return conversation_profile_refresh(conversation_id=conversation_id)


def flow_runs_resume() -> int:
    """Resume delayed flow runs whose delay is over. Safe to run twice (each run is claimed under its row lock)."""
    return flow_runs_resume_due()
