"""The action types of the inbox: DMs (with the 24-hour window's rules), typing indicators, ice breakers.

Declared once each as an ``ActionSpec`` and registered from ``MessagingConfig.ready``.
A reconciler answers, for an action whose outcome is unknown, whether Instagram
shows it happened: our message in the conversation, the ice breakers it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from actions.models import Action, ActionType
from actions.specs import ActionPayload, ActionSpec, LimitUse, Reconciliation
from instagram.client import InstagramClient
from instagram.errors import OutsideMessagingWindowError
from messaging.models import IceBreakerSet
from safety.policies import MESSENGER_PROFILE, SEND_API, SEND_API_AUDIO_VIDEO


@dataclass(frozen=True)
class DmPayload(ActionPayload):
    recipient_id: str
    message: str
    automated: bool = False  # planned by automation: never sent outside the 24-hour window, never tagged
    human_agent: bool = False  # the inbox planned it with the HUMAN_AGENT tag
    sent_by: Any = None  # the person who wrote it, for a reply from the inbox
    standard_window_until: str | None = None  # when the 24-hour window closes (ISO time)
    quick_replies: list[dict[str, Any]] | None = None


def _dm(action: Action, client: InstagramClient) -> dict[str, Any]:
    """A DM: a normal message, or with the HUMAN_AGENT tag when the inbox planned one.

    A person's reply (``sent_by``) that the gate held past the 24-hour window
    is still a person's reply, so it goes with the tag rather than being
    refused; an automated message never gets the tag.
    """
    payload = DmPayload.of(action)
    human_agent = bool(payload.human_agent)
    window_until = parse_datetime(str(payload.standard_window_until or ""))
    switched = not human_agent and bool(payload.sent_by) and window_until is not None and timezone.now() >= window_until
    if payload.automated and window_until is not None and timezone.now() >= window_until:
        # Automation never sends outside the 24-hour window, and never with the tag.
        raise OutsideMessagingWindowError("the 24-hour window closed before the automated message could be sent")
    result = client.message_send_text(
        recipient_id=payload.recipient_id,
        text=payload.message,
        quick_replies=payload.quick_replies or None,
        human_agent=not payload.automated and (human_agent or switched),
    )
    return {**result, "sent_with_human_agent_tag": True} if switched else result


# A message of ours found in the conversation counts only if Instagram dated it after the send began (with slack).
RECONCILE_SLACK = timedelta(minutes=2)


def our_message_reconcile(action: Action, client: InstagramClient, *, recipient_id: str, text: str) -> Reconciliation:
    """Did our message reach ``recipient_id``? Look for it among the latest messages of their conversation.

    Ours, with the same text, dated by Instagram after the send began (with slack). Used for DMs and for
    private replies (engagement), which land in the same conversation.
    """
    account_id = action.account.ig_user_id
    for conversation in client.conversations_list(user_id=recipient_id, max_items=1):
        for item in client.conversation_messages(conversation_id=str(conversation["id"])):
            message = client.message_get(message_id=str(item["id"]))
            sender = str((message.get("from") or {}).get("id", ""))
            created = parse_datetime(str(message.get("created_time") or ""))
            recent = action.started_at is None or created is None or created >= action.started_at - RECONCILE_SLACK
            if sender == account_id and message.get("message") == text and recent:
                return Reconciliation(
                    True, {"recipient_id": recipient_id, "message_id": message.get("id"), "reconciled": True}
                )
    return Reconciliation(False, {})


def _dm_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Did our DM arrive? Look for it in the conversation with the recipient."""
    payload = DmPayload.of(action)
    return our_message_reconcile(action, client, recipient_id=payload.recipient_id, text=payload.message)


@dataclass(frozen=True)
class SenderActionPayload(ActionPayload):
    recipient_id: str
    sender_action: str = "typing_on"
    before_action: int | None = None  # the DM it precedes


def _sender_action(action: Action, client: InstagramClient) -> dict[str, Any]:
    """A typing indicator (or mark_seen) before an automated DM (``safety.timing``)."""
    payload = SenderActionPayload.of(action)
    return client.sender_action(recipient_id=payload.recipient_id, action=payload.sender_action)


def _sender_action_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """A typing indicator leaves no trace to look for, and is over in seconds: never repeat it."""
    return Reconciliation(True, {"reconciled": True, "note": "a sender action leaves no trace; not repeated"})


@dataclass(frozen=True)
class IceBreakersPayload(ActionPayload):
    ice_breakers: list[dict[str, str]] | None = None  # the default locale's call_to_actions; none: delete them
    revision: int = 0  # of the account's IceBreakerSet: only the newest is ever sent


def _ice_breakers_superseded(action: Action, payload: IceBreakersPayload) -> bool:
    revision = (
        IceBreakerSet.all_workspaces.filter(account_id=action.account_id).values_list("revision", flat=True).first()
    )
    return revision is not None and int(payload.revision) < revision


def _ice_breakers(action: Action, client: InstagramClient) -> dict[str, Any]:
    payload = IceBreakersPayload.of(action)
    if _ice_breakers_superseded(action, payload):
        return {"skipped": "a newer version of the ice breakers was saved; that one is sent instead"}
    questions = payload.ice_breakers or []
    answer = client.ice_breakers_set(questions=questions) if questions else client.ice_breakers_delete()
    return {**answer, "ice_breakers": len(questions)}


def _ice_breakers_reconcile(action: Action, client: InstagramClient) -> Reconciliation:
    """Instagram shows what it holds: the update happened if its default questions are ours."""
    payload = IceBreakersPayload.of(action)
    if _ice_breakers_superseded(action, payload):
        return Reconciliation(True, {"skipped": "superseded by a newer version", "reconciled": True})
    live: list[dict[str, Any]] = []
    for entry in client.ice_breakers_get():
        if entry.get("locale") == "default":
            live = [
                {"question": item.get("question"), "payload": item.get("payload")}
                for item in entry.get("call_to_actions") or []
            ]
    if live == (payload.ice_breakers or []):
        return Reconciliation(True, {"reconciled": True, "ice_breakers": len(live)})
    return Reconciliation(False, {})


SEND_API_LIMITS = (LimitUse(SEND_API), LimitUse(SEND_API_AUDIO_VIDEO))

ACTION_SPECS: tuple[ActionSpec[Any], ...] = (
    ActionSpec(
        action_type=ActionType.DM,
        payload=DmPayload,
        run=_dm,
        reconcile=_dm_reconcile,
        capability="dm_reply",
        policy_key=("dm", "dms"),
        content=True,
        limits=SEND_API_LIMITS,
    ),
    ActionSpec(
        action_type=ActionType.SENDER_ACTION,
        payload=SenderActionPayload,
        run=_sender_action,
        reconcile=_sender_action_reconcile,
        capability="dm_reply",
        policy_key=None,
        content=False,
        limits=SEND_API_LIMITS,
        warmup_budget=False,
    ),
    ActionSpec(
        action_type=ActionType.MESSENGER_PROFILE,
        payload=IceBreakersPayload,
        run=_ice_breakers,
        reconcile=_ice_breakers_reconcile,
        capability="all",
        policy_key=None,
        content=False,
        limits=(LimitUse(MESSENGER_PROFILE),),
    ),
)
