"""django-q2 tasks of the inbox: thin, idempotent, by id."""

from __future__ import annotations

import logging

from accounts.tenancy import workspace_scope
from instaforge.tasks import coalesced_items_take
from messaging.automation import flow_runs_resume_due
from messaging.services import PROFILES_FLAG, conversation_profile_refresh

logger = logging.getLogger(__name__)


def conversation_profile_fetch(workspace_id: int, conversation_id: int) -> str:
    """Read the person's username and name from Instagram. Safe to run twice (skips a known profile).

    Kept for the tasks queued before ``conversation_profiles_fetch`` replaced it.
    """
    with workspace_scope(workspace_id):
        return conversation_profile_refresh(conversation_id=conversation_id)


def conversation_profiles_fetch(items: list[str]) -> dict[str, int]:
    """The profiles of new people, ``items`` and all others waiting (``"workspace id:conversation id"`` each).

    One task for a burst of new conversations (``instaforge.tasks.enqueue_coalesced_items``), each read under
    its own workspace; one that fails is logged and the others go on. Safe to run twice (a known profile is
    skipped). Returns how many ended how.
    """
    outcomes: dict[str, int] = {}
    for item in coalesced_items_take(PROFILES_FLAG, items):
        try:
            workspace_id, conversation_id = (int(part) for part in item.split(":"))
            with workspace_scope(workspace_id):
                outcome = conversation_profile_refresh(conversation_id=conversation_id)
        except Exception:
            logger.exception("Reading the profile of %r failed", item)
            outcome = "failed"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def flow_runs_resume() -> int:
    """Resume delayed flow runs whose delay is over. Safe to run twice (each run is claimed under its row lock)."""
    return flow_runs_resume_due()
