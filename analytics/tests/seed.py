"""Rows for the analytics tests: a ledger of known figures, written with the factories (see test_selectors)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from accounts.models import InstagramAccount
from actions.models import Action, ActionDecision, ActionState, ActionType, Verdict
from engagement.models import Comment, CommentRule, CommentRuleHit
from messaging import events
from messaging.models import (
    AutomatedReply,
    ConversationEvent,
    DmRule,
    Flow,
    FlowRun,
    FlowRunStatus,
    FlowVersion,
    Message,
    MessageDirection,
)
from safety.models import RiskScoreSample
from tests.factories import ActionFactory, CommentFactory, ConversationFactory, MessageFactory
from warmup.models import WarmupDay, WarmupPlan

SUCCEEDED, FAILED = ActionState.SUCCEEDED, ActionState.FAILED


def action_at(
    account: InstagramAccount, action_type: str, state: str, finished: datetime | None, **fields: Any
) -> Action:
    return ActionFactory.create(
        account=account,
        action_type=action_type,
        state=state,
        finished_at=finished,
        started_at=finished,
        created_at=(finished or datetime.now().astimezone()) - timedelta(minutes=1),
        **fields,
    )


def comment_answered(
    account: InstagramAccount, received: datetime, after: float | None, *, rule: CommentRule | None = None
) -> Comment:
    """A comment received at ``received``, answered ``after`` seconds later (None: its reply failed)."""
    comment = CommentFactory.create(account=account, received_at=received, matched_rule=rule)
    if rule is not None:
        CommentRuleHit.all_workspaces.create(
            workspace=account.workspace, comment=comment, rule=rule, created_at=received
        )
    action_at(
        account,
        ActionType.COMMENT_REPLY,
        SUCCEEDED if after is not None else FAILED,
        received + timedelta(seconds=after if after is not None else 5),
        source_kind="comment",
        source_id=str(comment.pk),
    )
    return comment


def dm_answered(account: InstagramAccount, received: datetime, after: float, *, rule: DmRule | None = None) -> Message:
    conversation = ConversationFactory.create(account=account)
    inbound = MessageFactory.create(conversation=conversation, created_at=received)
    action = action_at(
        account,
        ActionType.DM,
        SUCCEEDED,
        received + timedelta(seconds=after),
        source_kind="conversation",
        source_id=str(conversation.pk),
    )
    outbound = MessageFactory.create(
        conversation=conversation, direction=MessageDirection.OUTBOUND, mid="", action=action, created_at=received
    )
    AutomatedReply.all_workspaces.create(
        workspace=account.workspace,
        message=outbound,
        trigger="hi",
        generator="rule",
        rule=rule,
        in_reply_to=inbound,
    )
    ConversationEvent.all_workspaces.create(
        workspace=account.workspace, conversation=conversation, kind=events.NEW_CONVERSATION, created_at=received
    )
    return inbound


def seed_ledger(account: InstagramAccount, now: datetime) -> dict[str, Any]:
    """A known month for one account; returns what the charts must say about it.

    Two hours ago: 3 comments answered by a rule (10, 20, 90 s) and one whose reply failed; 2 DMs answered by a
    DM rule (5 and 25 s); a published post; a denied private reply; 3 deferrals (2 warm-up, 1 cooldown); 2
    hand-overs; a flow with 4 runs (3 completed); risk samples 10 then 40 today. 40 days ago: one more reply,
    outside the 30 days.
    """
    workspace = account.workspace
    received = now - timedelta(hours=2)
    rule = CommentRule.all_workspaces.create(
        workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="Hi!"
    )
    dm_rule = DmRule.all_workspaces.create(workspace=workspace, account=account, name="Hello", reply_templates="Hi")
    for after in (10, 20, 90, None):
        comment_answered(account, received, after, rule=rule)
    for after in (5, 25):
        dm_answered(account, received, after, rule=dm_rule)
    action_at(account, ActionType.PUBLISH, SUCCEEDED, received)
    action_at(account, ActionType.PRIVATE_REPLY, ActionState.DENIED, received)
    action_at(account, ActionType.HIDE_COMMENT, SUCCEEDED, received)  # not one of the automation kinds
    deferred = action_at(account, ActionType.COMMENT_REPLY, ActionState.PLANNED, None)
    for reason in ("warm-up day 1 allows 5 actions", "warm-up: outside the day's window", "cooldown of 30 s"):
        ActionDecision.all_workspaces.create(
            workspace=workspace, action=deferred, verdict=Verdict.DEFER, reason=reason, at=received
        )
    conversation = ConversationFactory.create(account=account)
    for _ in range(2):
        ConversationEvent.all_workspaces.create(
            workspace=workspace, conversation=conversation, kind=events.HAND_OVER, created_at=received
        )
    flow = Flow.all_workspaces.create(workspace=workspace, account=account, name="Welcome flow")
    version = FlowVersion.all_workspaces.create(workspace=workspace, flow=flow, number=1, steps=[])
    for status in (
        FlowRunStatus.COMPLETED,
        FlowRunStatus.COMPLETED,
        FlowRunStatus.COMPLETED,
        FlowRunStatus.HANDED_OVER,
    ):
        FlowRun.all_workspaces.create(
            workspace=workspace,
            conversation=ConversationFactory.create(account=account),
            version=version,
            status=status,
            started_at=received,
        )
    for minutes, score in ((90, 10), (60, 40)):
        RiskScoreSample.all_workspaces.create(
            workspace=workspace, account=account, score=score, at=now - timedelta(minutes=minutes)
        )
    action_at(account, ActionType.COMMENT_REPLY, SUCCEEDED, now - timedelta(days=40))
    return {"received": received, "rule": rule, "flow": flow}


def warmup_days(account: InstagramAccount, first: date, targets: list[int]) -> WarmupPlan:
    plan = WarmupPlan.all_workspaces.create(
        workspace=account.workspace, account=account, started_on=first, day_local_date=first
    )
    for offset, target in enumerate(targets):
        WarmupDay.all_workspaces.create(
            workspace=account.workspace,
            plan=plan,
            local_date=first + timedelta(days=offset),
            day=offset + 1,
            phase="observe",
            target=target,
        )
    return plan
