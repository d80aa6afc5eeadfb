"""Ice breakers: the questions a person can tap to start a conversation, set on Instagram through the ledger.

Saving plans one ``messenger_profile`` action (``POST /me/messenger_profile``, or
``DELETE`` when no question is left). Only the newest revision is ever sent: an
older action still waiting, or one whose outcome was unknown, steps aside, so a
reconciliation can never put old questions back over new ones (the action type's
spec, run and reconciler: ``messaging.executors``).
https://developers.facebook.com/documentation/instagram-platform/instagram-api-with-instagram-login/messaging-api/ice-breakers
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from accounts.models import InstagramAccount, User
from actions.models import Action, ActionType
from actions.services import action_plan
from instagram.client import MAX_ICE_BREAKERS
from messaging.models import IceBreakerSet

PAYLOAD_PREFIX = "ICEBREAKER_"


def ice_breaker_payloads(questions: list[str]) -> list[dict[str, str]]:
    """The ``call_to_actions`` of the default locale: each question with a stable payload."""
    return [
        {"question": question, "payload": f"{PAYLOAD_PREFIX}{index}"} for index, question in enumerate(questions, 1)
    ]


def ice_breakers_save(*, account: InstagramAccount, questions: list[str], actor: User | None) -> Action:
    """Store the questions as a new revision and plan sending them to Instagram now. Returns the action."""
    questions = [question.strip() for question in questions if question.strip()]
    if len(questions) > MAX_ICE_BREAKERS:
        raise ValueError(f"Instagram allows at most {MAX_ICE_BREAKERS} ice breakers.")
    with transaction.atomic():
        current, _ = IceBreakerSet.all_workspaces.select_for_update().get_or_create(
            account=account, defaults={"workspace_id": account.workspace_id}
        )
        # The row is locked until commit: two saves at once get consecutive revisions.
        current.questions, current.revision = questions, current.revision + 1
        current.updated_at, current.updated_by = timezone.now(), actor
        current.save(update_fields=["questions", "revision", "updated_at", "updated_by"])
        action, _ = action_plan(
            account=account,
            action_type=ActionType.MESSENGER_PROFILE,
            idempotency_key=f"ice_breakers:{current.pk}:{current.revision}",
            payload={"ice_breakers": ice_breaker_payloads(questions), "revision": current.revision},
            due_at=timezone.now(),
            source_kind="ice_breakers",
            source_id=str(current.pk),
        )
    return action


@dataclass(frozen=True)
class IceBreakersStatus:
    """What the account's page shows: the questions, and whether Instagram has them."""

    questions: list[str]
    revision: int
    action: Action | None  # the newest update on the ledger

    @property
    def label(self) -> str:
        if self.action is None:
            return "Not set on Instagram"
        return {
            "succeeded": "Live on Instagram",
            "failed": "Instagram refused the update",
            "denied": "Not sent",
        }.get(self.action.state, "Sending to Instagram…")


def ice_breakers_statuses(*, accounts: list[InstagramAccount]) -> dict[int, IceBreakersStatus]:
    """Each account's status, in two queries whatever the number of accounts."""
    ids = [account.pk for account in accounts]
    sets = {row.account_id: row for row in IceBreakerSet.all_workspaces.filter(account_id__in=ids)}
    newest = (
        Action.all_workspaces.filter(account_id=OuterRef("pk"), action_type=ActionType.MESSENGER_PROFILE)
        .order_by("-created_at", "-pk")
        .values("pk")[:1]
    )
    newest_per_account = InstagramAccount.all_workspaces.filter(pk__in=ids).annotate(newest=Subquery(newest))
    actions = {
        action.account_id: action for action in Action.all_workspaces.filter(pk__in=newest_per_account.values("newest"))
    }
    statuses = {}
    for account_id in ids:
        current = sets.get(account_id)
        statuses[account_id] = (
            IceBreakersStatus(list(current.questions), current.revision, actions.get(account_id))
            if current is not None
            else IceBreakersStatus([], 0, None)
        )
    return statuses


def ice_breakers_status(*, account: InstagramAccount) -> IceBreakersStatus:
    return ice_breakers_statuses(accounts=[account])[account.pk]
