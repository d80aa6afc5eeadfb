"""The DM pipeline for each received message, the reply generators, flows and the hand-over.

``message_automate`` runs once per received message (from the ``messages``
webhook handler): intent (rules, then the optional AI classifier), sentiment
(VADER), context, hand-over checks, then one generator: the running flow, a
welcome for a new conversation, a flow or a rule whose trigger matches, or an
AI reply (falling back to a template). Every automated message is planned on
the ledger (action type ``dm``) only inside Meta's 24-hour window, never with
the HUMAN_AGENT tag, and records why it was sent (``AutomatedReply``).

Flow state is in ``FlowRun`` rows, saved in the same transaction as each step's
sends, so a worker that dies mid-flow loses nothing: the next message, or the
``flow_runs_resume_due`` schedule for delays, continues from the stored step.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings as django_settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Membership
from accounts.tenancy import workspace_scope
from accounts.vault import token_encrypt
from actions.models import ActionType
from actions.services import action_new, action_plan, actions_plan_many
from engagement.matching import TEXT_MAX_LENGTH, any_keyword_matches, keyword_list_parse
from instaforge.batching import batch_read
from instaforge.outbound import OutboundError, outbound_post
from instaforge.text import person_values, sentiment_score, template_render, text_fold
from instagram.limits import STANDARD_WINDOW, message_text_clip
from messaging import events
from messaging.ai import AIUnavailable, ai_intent_classify, ai_reply_generate
from messaging.analysis import IntentResult, conversation_context, intent_classify_rules
from messaging.flows import BRANCH_CASES_MAX, option_target, step_following, step_waits_for_tap
from messaging.models import (
    ACTIVE_RUN_STATUSES,
    DM_AUTOMATIONS_MAX,
    AutomatedReply,
    Conversation,
    ConversationState,
    DmRule,
    Flow,
    FlowRun,
    FlowRunStatus,
    FlowVersion,
    Intent,
    Message,
    MessageAnalysis,
    MessageDirection,
    MessagingSettings,
    TriggerKind,
)

logger = logging.getLogger(__name__)

# A flow that loops without waiting stops after this many steps in one go.
FLOW_STEPS_PER_PASS = 50


def messaging_settings_get(*, workspace_id: int) -> MessagingSettings:
    """The workspace's settings row, created with the defaults on first use."""

    def load() -> MessagingSettings:
        config, _ = MessagingSettings.all_workspaces.get_or_create(workspace_id=workspace_id)
        return config

    return batch_read(("messaging_settings", workspace_id), load)


# ---------------------------------------------------------------------------
# Sending


@dataclass(frozen=True)
class Why:
    """What an automated message records about itself."""

    trigger: str
    generator: str
    rule: DmRule | None = None
    flow_version: FlowVersion | None = None
    flow_step: str = ""
    model: str = ""
    detail: str = ""
    in_reply_to: Message | None = None


def render(template: str, *, conversation: Conversation, variables: dict[str, Any] | None = None) -> str:
    """A DM: a person's placeholders (``instaforge.text``) and a flow's ``{variable}``; unknown ones stay as written.

    A person's username and name may not be known yet (a new person's profile
    is read in a task): their placeholder goes, with the space before it.
    """
    values = person_values(username=conversation.participant_username, name=conversation.participant_name)
    for key, value in (variables or {}).items():
        if not key.startswith("_") and isinstance(value, str | int | float):
            values[key] = str(value)
    return message_text_clip(template_render(template, values=values))


def automated_message_send(
    *,
    conversation: Conversation,
    text: str,
    key: str,
    why: Why,
    quick_replies: list[dict[str, str]] | None = None,
    now: datetime | None = None,
    after_seconds: int = 0,
    key_new: bool = False,
) -> Message | None:
    """Plan one automated DM on the ledger (once per ``key``) and show it in the thread with its reason.

    Only inside the 24-hour window counted from the person's last message, and
    never with the HUMAN_AGENT tag (that is for people). Outside the window
    nothing is planned and an ``automation_skipped`` event says why. Call
    inside a transaction.

    ``key_new``: the caller knows no action has this key (``message_automate``: a key of the message whose
    analysis this transaction inserted); should one have it all the same, ``ActionKeyTaken`` is raised and the
    transaction must be rolled back.
    """
    now = now or timezone.now()
    last = conversation.last_inbound_at
    if last is None or now - last >= STANDARD_WINDOW:
        events.messaging_event_emit(
            kind=events.AUTOMATION_SKIPPED,
            conversation=conversation,
            data={"reason": "outside the 24-hour window: automated messages are not allowed", "text": text},
        )
        return None
    account = conversation.account
    payload: dict[str, Any] = {
        "recipient_id": conversation.participant_igsid,
        "message": text,
        "human_agent": False,
        "automated": True,
        "standard_window_until": (last + STANDARD_WINDOW).isoformat(),
        "conversation_id": conversation.pk,
    }
    if quick_replies:
        payload["quick_replies"] = [{"title": o["title"][:20], "payload": o["payload"]} for o in quick_replies]
    plan = partial(
        action_plan,
        account=account,
        action_type=ActionType.DM,
        idempotency_key=f"dm_auto:{conversation.pk}:{key}",
        payload=payload,
        # Messages of one flow pass are a second apart, so parallel senders keep their order.
        due_at=now + timedelta(seconds=after_seconds),
        source_kind="conversation",
        source_id=str(conversation.pk),
    )
    if key_new:
        # Without action_plan's savepoint (two statements): a key planned already is not looked for but refused.
        action, created = action_new(**plan.keywords), True
        try:
            actions_plan_many([action])
        except IntegrityError as exc:
            raise ActionKeyTaken(action.idempotency_key) from exc
    else:
        action, created = plan()
    if not created:
        return Message.objects.filter(action=action).first()
    message = Message.objects.create(
        workspace_id=conversation.workspace_id,
        conversation=conversation,
        account=account,
        direction=MessageDirection.OUTBOUND,
        text=text,
        action=action,
        created_at=now,
    )
    AutomatedReply.objects.create(
        workspace_id=conversation.workspace_id,
        message=message,
        trigger=why.trigger[:300],
        generator=why.generator,
        rule=why.rule,
        flow_version=why.flow_version,
        flow_step=why.flow_step,
        model=why.model[:120],
        detail=why.detail,
        in_reply_to=why.in_reply_to,
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=now, last_message_preview=text[:200], last_message_direction=MessageDirection.OUTBOUND
    )
    return message


def _quick_replies(titles: list[str]) -> list[dict[str, str]]:
    return [{"title": title[:20], "payload": text_fold(title).upper().replace(" ", "_")[:100]} for title in titles]


# ---------------------------------------------------------------------------
# Hand-over


def conversation_hand_over(*, conversation: Conversation, reason: str, data: dict[str, Any] | None = None) -> bool:
    """Hand the conversation to a person: state "waiting", running flows stopped, members notified.

    Returns False when it was already waiting for a person (nothing changes).
    Automation resumes only when a person sets the conversation back to automated.
    """
    changed = (
        Conversation.objects.filter(pk=conversation.pk)
        .exclude(state=ConversationState.WAITING)
        .update(state=ConversationState.WAITING)
    )
    conversation.state = ConversationState.WAITING
    if not changed:
        return False
    FlowRun.objects.filter(conversation=conversation, status__in=ACTIVE_RUN_STATUSES).update(
        status=FlowRunStatus.HANDED_OVER, updated_at=timezone.now()
    )
    events.messaging_event_emit(
        kind=events.HAND_OVER, conversation=conversation, data={"reason": reason, **(data or {})}
    )
    config = messaging_settings_get(workspace_id=conversation.workspace_id)
    if config.notify_by_email:
        conversation_id, workspace_id, who = conversation.pk, conversation.workspace_id, str(conversation)
        transaction.on_commit(lambda: _notify_members(workspace_id, conversation_id, who, reason))
    return True


def _notify_members(workspace_id: int, conversation_id: int, who: str, reason: str) -> None:
    emails = list(
        Membership.all_workspaces.filter(workspace_id=workspace_id)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if not emails:
        return
    base = str(getattr(django_settings, "SITE_URL", "") or "").rstrip("/")
    try:
        send_mail(
            subject=f"A person is needed: conversation with {who}",
            message=f"{who} needs an answer from a person ({reason}).\n\nOpen it: {base}/inbox/{conversation_id}/",
            from_email=None,
            recipient_list=emails,
        )
    except Exception:  # the hand-over stands even if mail is down
        logger.exception("Hand-over email for conversation %s failed", conversation_id)


# ---------------------------------------------------------------------------
# Flows


def flow_save(
    *, flow: Flow, steps: list[dict[str, Any]] | None = None, author: Any = None
) -> tuple[Flow, FlowVersion | None]:
    """Save a flow's settings and, when ``steps`` differ from the current version's, a new version.

    Versions are immutable: conversations in a flow keep the version they started with.
    Validate ``steps`` with ``messaging.flows.steps_validate`` first.
    """
    with transaction.atomic():
        flow.save()
        current = flow.current_version
        if steps is None or (current is not None and current.steps == steps):
            return flow, None
        last = FlowVersion.objects.filter(flow=flow).order_by("-number").values_list("number", flat=True).first()
        version = FlowVersion.objects.create(
            workspace_id=flow.workspace_id, flow=flow, number=(last or 0) + 1, steps=steps, created_by=author
        )
        flow.current_version = version
        flow.save(update_fields=["current_version"])
    return flow, version


def flow_start(
    *, flow: Flow, conversation: Conversation, trigger: str, inbound: Message | None, now: datetime | None = None
) -> FlowRun | None:
    """Start ``flow`` (its current version) in the conversation and run it until it waits or ends."""
    if flow.current_version is None:
        return None
    steps = flow.current_version.steps
    try:
        with transaction.atomic():
            if FlowRun.objects.filter(conversation=conversation, status__in=ACTIVE_RUN_STATUSES).exists():
                return None
            run = FlowRun.objects.create(
                workspace_id=conversation.workspace_id,
                conversation=conversation,
                version=flow.current_version,
                step_id=str(steps[0]["id"]) if steps else "",
                trigger=trigger[:300],
                started_at=now or timezone.now(),
            )
    except IntegrityError:  # another worker started a flow in this conversation meanwhile
        return None
    return flow_run_advance(run_id=run.pk, inbound=inbound, now=now)


def _branch_target(step: dict[str, Any], steps: list[dict[str, Any]], variables: dict[str, Any]) -> str:
    answer = str(variables.get(step.get("variable") or "", ""))
    for case in (step.get("cases") or [])[:BRANCH_CASES_MAX]:
        words = keyword_list_parse(str(case.get("match", "")))
        if text_fold(answer[:TEXT_MAX_LENGTH]) in {text_fold(word) for word in words} or any_keyword_matches(
            keywords=words, text=answer
        ):
            return str(case["goto"])
    return str(step.get("default") or step_following(step, steps))


def _finish(run: FlowRun, status: str, now: datetime) -> None:
    run.status, run.step_id, run.resume_at, run.updated_at = status, "", None, now
    if status == FlowRunStatus.COMPLETED:
        events.messaging_event_emit(
            kind=events.FLOW_COMPLETED,
            conversation=run.conversation,
            data={
                "flow_id": run.version.flow_id,
                "flow": run.version.flow.name,
                "version": run.version.number,
                "variables": run.variables,
            },
        )


def _steps_run(run: FlowRun, *, inbound: Message | None, answer: str, now: datetime) -> dict[str, Any] | None:
    """Run steps until the flow waits, ends, or reaches a webhook (returned, to be called outside the lock)."""
    steps: list[dict[str, Any]] = run.version.steps
    by_id = {str(step["id"]): step for step in steps}
    conversation = run.conversation
    sends = 0
    for _ in range(FLOW_STEPS_PER_PASS):
        step = by_id.get(run.step_id)
        if step is None:
            _finish(run, FlowRunStatus.COMPLETED, now)
            return None
        kind, step_id = step["type"], str(step["id"])
        why = Why(
            trigger=run.trigger,
            generator="flow",
            flow_version=run.version,
            flow_step=f"{step_id} ({kind})",
            in_reply_to=inbound,
        )
        if kind in ("send_text", "send_quick_replies", "ask") and run.status != FlowRunStatus.WAITING:
            automated_message_send(
                conversation=conversation,
                text=render(step["text"], conversation=conversation, variables=run.variables),
                key=f"flow:{run.pk}:{run.steps_taken}",
                why=why,
                quick_replies=step.get("options") or None,
                now=now,
                after_seconds=sends,
            )
            sends += 1
            run.steps_taken += 1
            if step_waits_for_tap(step):
                run.status = FlowRunStatus.WAITING
                return None
        elif kind in ("ask", "send_quick_replies"):  # waiting, and here is the answer
            if inbound is None:
                return None
            if kind == "ask":
                run.variables = {**run.variables, step["variable"]: answer}
            run.status = FlowRunStatus.RUNNING
            run.steps_taken += 1
            run.step_id = option_target(step, answer) or step_following(step, steps)
            continue
        elif kind == "branch":
            run.step_id = _branch_target(step, steps, run.variables)
            run.steps_taken += 1
            continue
        elif kind == "delay":
            if run.status == FlowRunStatus.DELAYED:
                if run.resume_at and run.resume_at > now:
                    return None
                run.status, run.resume_at = FlowRunStatus.RUNNING, None
            else:
                run.status, run.resume_at = FlowRunStatus.DELAYED, now + timedelta(seconds=int(step["seconds"]))
                run.steps_taken += 1
                return None
        elif kind == "add_tag":
            tag = str(step["tag"]).strip()
            if tag not in conversation.tags:
                conversation.tags = [*conversation.tags, tag]
                Conversation.objects.filter(pk=conversation.pk).update(tags=conversation.tags)
                if tag == "lead":
                    events.messaging_event_emit(
                        kind=events.NEW_LEAD, conversation=conversation, data={"variables": run.variables}
                    )
            run.steps_taken += 1
        elif kind == "webhook":
            return step
        elif kind == "hand_over":
            run.steps_taken += 1
            _finish(run, FlowRunStatus.HANDED_OVER, now)
            run.save()
            conversation_hand_over(
                conversation=conversation,
                reason=f"flow {run.version.flow.name} v{run.version.number}, step {step_id}",
            )
            return None
        elif kind == "end":
            run.steps_taken += 1
            _finish(run, FlowRunStatus.COMPLETED, now)
            return None
        run.step_id = step_following(step, steps)
    logger.warning("Flow run %s ran %s steps without waiting; stopped", run.pk, FLOW_STEPS_PER_PASS)
    _finish(run, FlowRunStatus.STOPPED, now)
    return None


def _webhook_call(step: dict[str, Any], run: FlowRun) -> dict[str, Any]:
    conversation = run.conversation
    body = {
        "flow": run.version.flow.name,
        "flow_version": run.version.number,
        "step": step["id"],
        "conversation_id": conversation.pk,
        "participant": {"igsid": conversation.participant_igsid, "username": conversation.participant_username},
        "variables": run.variables,
        "tags": conversation.tags,
    }
    try:
        response = outbound_post(str(step["url"]), json=body, timeout=float(step.get("timeout") or 10))
    except OutboundError as exc:
        return {"ok": False, "error": exc.__class__.__name__}
    try:
        answer: Any = response.json()
    except ValueError:
        answer = response.text[:1000]
    return {"ok": response.ok, "status": response.status_code, "body": answer}


def flow_run_advance(
    *, run_id: int, inbound: Message | None = None, answer: str | None = None, now: datetime | None = None
) -> FlowRun | None:
    """Continue a flow run from its stored step: with the person's answer, after a delay, or after a webhook.

    Each pass holds the run's row lock and saves the run together with the
    actions it planned; the webhook call happens between passes, outside the
    lock (at least once: a worker dying right after it may call it again).
    """
    now = now or timezone.now()
    if answer is None:
        answer = inbound.text if inbound is not None else ""
    for _ in range(FLOW_STEPS_PER_PASS):
        with transaction.atomic():
            run = (
                FlowRun.objects.select_for_update()
                .select_related("version__flow", "conversation__account")
                .filter(pk=run_id, status__in=ACTIVE_RUN_STATUSES)
                .first()
            )
            if run is None:
                return None
            if run.conversation.state != ConversationState.AUTOMATED:
                return run
            webhook = _steps_run(run, inbound=inbound, answer=answer, now=now)
            run.updated_at = now
            run.save()
        if webhook is None:
            return run
        result = _webhook_call(webhook, run)
        with transaction.atomic():
            locked = FlowRun.objects.select_for_update().get(pk=run_id)
            if locked.step_id == str(webhook["id"]) and locked.status in ACTIVE_RUN_STATUSES:
                locked.variables = {**locked.variables, webhook["variable"]: result}
                locked.step_id = step_following(webhook, locked.version.steps)
                locked.steps_taken += 1
                locked.updated_at = now
                locked.save()
        inbound = None
    return None


def flow_runs_resume_due(*, now: datetime | None = None) -> int:
    """Resume every delayed flow run whose delay is over (all workspaces). Returns how many ran."""
    now = now or timezone.now()
    due = list(
        FlowRun.all_workspaces.filter(status=FlowRunStatus.DELAYED, resume_at__lte=now).values_list(
            "pk", "workspace_id"
        )[:500]
    )
    for run_id, workspace_id in due:
        with workspace_scope(workspace_id):
            flow_run_advance(run_id=run_id, now=now)
    return len(due)


# ---------------------------------------------------------------------------
# The pipeline


@dataclass(frozen=True)
class Inbound:
    """What the webhook said about a received message beyond its text."""

    quick_reply_payload: str | None = None
    story_reply: bool = False


def message_classify_locally(*, text: str, config: MessagingSettings) -> IntentResult | None:
    """The intent of ``text`` when no model is to be asked (``_classify``'s), else None."""
    result = intent_classify_rules(text=text)
    if config.classifier_ai and result.intent == Intent.OTHER and text.strip():
        return None
    return result


def _classify(*, text: str, config: MessagingSettings) -> IntentResult:
    result = intent_classify_rules(text=text)
    if config.classifier_ai and result.intent == Intent.OTHER and text.strip():
        try:
            return IntentResult(ai_intent_classify(config=config, text=text), 0.7, f"AI: {config.ai_model}")
        except AIUnavailable as exc:
            logger.info("AI classifier unavailable: %s", exc)
    return result


def _triggered(item: DmRule | Flow, *, message: Message, analysis: MessageAnalysis, inbound: Inbound) -> str | None:
    """The trigger, in words, when ``item``'s trigger matches this message."""
    if item.trigger_kind == TriggerKind.KEYWORD:
        keywords = keyword_list_parse(item.keywords)  # bounded, whatever the row holds
        keyword = any_keyword_matches(keywords=keywords, text=message.text)
        if keyword is None and inbound.quick_reply_payload:
            keyword = any_keyword_matches(keywords=keywords, text=inbound.quick_reply_payload)
        return f"keyword “{keyword}” in “{message.text[:120]}”" if keyword else None
    if item.trigger_kind == TriggerKind.INTENT:
        return f"intent {analysis.intent} ({analysis.confidence:.0%})" if item.intent == analysis.intent else None
    if item.trigger_kind == TriggerKind.STORY_REPLY:
        return f"a reply to a story: “{message.text[:120]}”" if inbound.story_reply else None
    if item.trigger_kind == TriggerKind.STORY_MENTION:
        mentioned = any(attachment.get("type") == "story_mention" for attachment in message.attachments)
        return "a mention in their story" if mentioned else None
    return None


def _variation(templates: list[str], seed: str) -> str:
    return templates[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(templates)]


def _rule_reply(
    rule: DmRule,
    *,
    conversation: Conversation,
    message: Message,
    trigger: str,
    generator: str,
    after_seconds: int = 0,
    key_new: bool = False,
) -> None:
    automated_message_send(
        conversation=conversation,
        text=render(_variation(rule.template_list, message.mid or str(message.pk)), conversation=conversation),
        key=f"{generator}:{message.pk}",
        why=Why(trigger=trigger, generator=generator, rule=rule, in_reply_to=message),
        quick_replies=_quick_replies(rule.quick_reply_list) or None,
        after_seconds=after_seconds,
        key_new=key_new,
    )


def _ai_reply(*, config: MessagingSettings, conversation: Conversation, message: Message) -> None:
    """Ask the model (outside any transaction: it may take up to the timeout), then plan the reply."""
    context = conversation_context(conversation=conversation, message=message)
    trigger = f"no rule or flow matched “{message.text[:120]}”"
    try:
        text = ai_reply_generate(config=config, context=context)
        why = Why(trigger=trigger, generator="ai", model=config.ai_model, in_reply_to=message)
    except AIUnavailable as exc:
        if not config.ai_fallback_template.strip():
            return
        text = render(config.ai_fallback_template, conversation=conversation)
        why = Why(trigger=trigger, generator="fallback", model=config.ai_model, detail=str(exc), in_reply_to=message)
    with transaction.atomic():
        automated_message_send(conversation=conversation, text=text, key=f"ai:{message.pk}", why=why)


@dataclass(frozen=True)
class Received:
    """A received message stored by the caller in this very call, with its conversation and the account loaded.

    ``message_automate`` takes it as it is: it reads the message back from no table and looks for no analysis
    (none can exist for a message just created). ``conversation_opened``: the conversation was created for it,
    so it is the first message of the conversation.
    """

    message: Message
    conversation_opened: bool = False


class ActionKeyTaken(Exception):
    """``automated_message_send(key_new=True)`` found its key planned already: roll back, plan the long way."""


class AlreadyAutomated(Exception):
    """Another worker stored the message's analysis first (the unique key on the message)."""


def _analysis_store(
    *, message: Message, result: IntentResult, conversation_opened: bool
) -> tuple[MessageAnalysis, bool]:
    """Store what the pipeline found (once per message); True when it opens a new conversation. In a transaction."""
    conversation = message.conversation
    try:
        analysis = MessageAnalysis.objects.create(
            workspace_id=message.workspace_id,
            message=message,
            intent=result.intent,
            confidence=result.confidence,
            classified_by=result.classified_by,
            matched_keyword=result.keyword[:100],
            sentiment=sentiment_score(text=message.text),
        )
    except IntegrityError as exc:  # the same message processed by two workers at once: the other one goes on
        raise AlreadyAutomated from exc
    # A conversation created for this message holds no other: no need to ask.
    first = conversation_opened or not (
        Message.objects.filter(conversation=conversation, direction=MessageDirection.INBOUND)
        .exclude(pk=message.pk)
        .exists()
    )
    if first:
        events.messaging_event_emit(
            kind=events.NEW_CONVERSATION,
            conversation=conversation,
            data={"username": conversation.participant_username, "text": message.text},
        )
    return analysis, first


def message_automate(
    *, message_id: int | None = None, inbound: Inbound | None = None, received: Received | None = None
) -> str:
    """Run the pipeline for one received message, once. Returns what happened, in words.

    The message by its id, or ``received`` as the webhook handler has just stored it. Its analysis and what is
    decided in the database (a hand-over, a skipped spam, a welcome, a rule's reply) commit in one transaction:
    a worker that dies before the commit leaves nothing, and the message is automated again when its event is;
    the analysis's unique key makes it once. A flow (its webhook steps between passes) and an AI reply (the
    model's call) run after that commit, outside any transaction, as they always have.
    """
    inbound = inbound or Inbound()
    if received is not None:
        message = received.message
    else:
        assert message_id is not None
        message = Message.objects.select_related("conversation__account").get(pk=message_id)
    if message.direction != MessageDirection.INBOUND or message.is_deleted:
        return "not a received message"
    if received is None and MessageAnalysis.objects.filter(message=message).exists():
        return "already automated"
    conversation = message.conversation
    config = messaging_settings_get(workspace_id=conversation.workspace_id)
    result = _classify(text=message.text, config=config)  # the optional AI classifier: outside the transaction
    opened = received is not None and received.conversation_opened
    try:
        with transaction.atomic():
            analysis, first = _analysis_store(message=message, result=result, conversation_opened=opened)
            # The welcome's and the rule's keys are this message's: planned only in the transaction that inserts
            # its analysis (which this one just did, once and for all), so no action has them yet.
            outcome, after_commit = _automate(
                config=config, message=message, analysis=analysis, first=first, inbound=inbound, keys_new=True
            )
    except AlreadyAutomated:
        return "already automated"
    except ActionKeyTaken:  # planned by other means all the same: rolled back, done again the long way
        logger.warning("A reply to message %s was planned already: automating it again with action_plan", message.pk)
        try:
            with transaction.atomic():
                analysis, first = _analysis_store(message=message, result=result, conversation_opened=opened)
                outcome, after_commit = _automate(
                    config=config, message=message, analysis=analysis, first=first, inbound=inbound, keys_new=False
                )
        except AlreadyAutomated:
            return "already automated"
    if after_commit is not None:
        after_commit()
    return outcome


def message_automate_stored_now(
    *, message: Message, conversation_opened: bool, inbound: Inbound, config: MessagingSettings, result: IntentResult
) -> tuple[str, Callable[[], object] | None]:
    """``message_automate`` for a message stored by the caller's open transaction, inside it; classified already.

    Returns what happened, in words, and the work to run after the caller's commit, outside any transaction (a
    flow, an AI reply), if any. The message, its analysis and what is decided in the database commit together.
    Raises ``AlreadyAutomated`` or ``ActionKeyTaken`` (neither can happen to a message this transaction created):
    the caller rolls back and takes the long way. ``conversation_opened``: this transaction created the
    conversation too, so no flow can run in it (nobody else sees it yet).
    """
    analysis, first = _analysis_store(message=message, result=result, conversation_opened=conversation_opened)
    return _automate(
        config=config,
        message=message,
        analysis=analysis,
        first=first,
        inbound=inbound,
        keys_new=True,
        no_flow_running=conversation_opened,
    )


def _automate(
    *,
    config: MessagingSettings,
    message: Message,
    analysis: MessageAnalysis,
    first: bool,
    inbound: Inbound,
    keys_new: bool,
    no_flow_running: bool = False,
) -> tuple[str, Callable[[], object] | None]:
    """What the pipeline does for the analysed message, inside ``message_automate``'s transaction, in words; and the
    work that must run after its commit, outside any transaction (a flow, an AI reply), if any."""
    # ``conversation`` (and its account) was read with the message, or locked by its storing: its state is current.
    conversation = message.conversation
    if conversation.state != ConversationState.AUTOMATED:
        return f"left for a person (the conversation is {conversation.get_state_display().lower()})", None
    active = (
        None
        if no_flow_running
        else FlowRun.objects.filter(conversation=conversation, status__in=ACTIVE_RUN_STATUSES).first()
    )
    handover = any_keyword_matches(keywords=config.handover_keyword_list, text=message.text)
    reason = ""
    if handover:
        reason = f"they asked for a person (“{handover}”)"
    elif analysis.sentiment < config.handover_sentiment_below:
        reason = f"negative sentiment ({analysis.sentiment:+.2f} < {config.handover_sentiment_below:+.2f})"
    elif active is None and analysis.confidence < config.handover_confidence_below:
        reason = f"low intent confidence ({analysis.confidence:.0%} < {config.handover_confidence_below:.0%})"
    if reason:
        conversation_hand_over(conversation=conversation, reason=reason, data={"message_id": message.pk})
        return f"handed to a person: {reason}", None
    if analysis.intent == Intent.SPAM:
        events.messaging_event_emit(
            kind=events.AUTOMATION_SKIPPED,
            conversation=conversation,
            data={"reason": f"spam (“{analysis.matched_keyword}”): not answered", "message_id": message.pk},
        )
        return "spam: not answered", None
    if active is not None:
        if active.status == FlowRunStatus.WAITING or (
            active.status == FlowRunStatus.DELAYED and active.resume_at and active.resume_at <= timezone.now()
        ):
            advance = partial(
                flow_run_advance, run_id=active.pk, inbound=message, answer=inbound.quick_reply_payload or message.text
            )
            return f"flow {active.version} continued", advance
        return f"flow {active.version} is running: message kept", None
    outcomes: list[str] = []
    if first:
        welcome = batch_read(
            ("dm_welcome", conversation.account_id),
            DmRule.objects.filter(
                account_id=conversation.account_id, trigger_kind=TriggerKind.NEW_CONVERSATION, is_active=True
            ).first,
        )
        if welcome is not None and welcome.template_list:
            _rule_reply(
                welcome,
                conversation=conversation,
                message=message,
                trigger="a new conversation",
                generator="welcome",
                key_new=keys_new,
            )
            outcomes.append(f"welcome “{welcome.name}”")
    flows = (
        Flow.objects.filter(account_id=conversation.account_id, is_active=True)
        .select_related("current_version")
        .exclude(trigger_kind=TriggerKind.NEW_CONVERSATION)
        .order_by("priority", "id")[:DM_AUTOMATIONS_MAX]
    )
    for flow in batch_read(("dm_flows", conversation.account_id), lambda: list(flows)):
        trigger = _triggered(flow, message=message, analysis=analysis, inbound=inbound)
        if trigger and flow.current_version is not None:
            version = flow.current_version.number
            start = partial(flow_start, flow=flow, conversation=conversation, trigger=trigger, inbound=message)
            return "; ".join([*outcomes, f"flow “{flow.name}” v{version} started"]), start
    rules = (
        DmRule.objects.filter(account_id=conversation.account_id, is_active=True)
        .exclude(trigger_kind=TriggerKind.NEW_CONVERSATION)
        .order_by("priority", "id")[:DM_AUTOMATIONS_MAX]
    )
    for rule in batch_read(("dm_rules", conversation.account_id), lambda: list(rules)):
        trigger = _triggered(rule, message=message, analysis=analysis, inbound=inbound)
        if trigger and rule.template_list:
            _rule_reply(
                rule,
                conversation=conversation,
                message=message,
                trigger=trigger,
                generator="rule",
                after_seconds=len(outcomes),  # after the welcome, if one was sent
                key_new=keys_new,
            )
            return "; ".join([*outcomes, f"rule “{rule.name}”"]), None
    if outcomes:
        return "; ".join(outcomes), None
    if config.ai_enabled:
        return "AI reply", partial(_ai_reply, config=config, conversation=conversation, message=message)
    return "no rule, flow or AI matched: left for a person", None


def messaging_settings_save(*, config: MessagingSettings, api_key: str = "", clear_api_key: bool = False) -> None:
    """Save a workspace's automation settings; a new AI API key is stored encrypted (the vault's keys)."""
    if clear_api_key:
        config.ai_api_key_encrypted = ""
    elif api_key.strip():
        config.ai_api_key_encrypted = token_encrypt(plaintext=api_key.strip())
    config.save()
