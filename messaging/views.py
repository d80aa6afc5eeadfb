from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import manager_required, workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount, Membership
from accounts.vault import token_key_index
from instaforge.lists import csv_filename, csv_response, list_query_parse
from messaging.automation import flow_save, messaging_settings_get, messaging_settings_save
from messaging.flows import (
    DELAY_MAX_SECONDS,
    FLOW_STEPS_MAX,
    NEXT_END,
    QUICK_REPLIES_MAX,
    QUICK_REPLY_TITLE_MAX,
    STEP_TYPES,
    WEBHOOK_TIMEOUT_MAX,
    steps_from_json,
    steps_validate,
)
from messaging.forms import (
    DmRuleForm,
    FlowForm,
    IceBreakersForm,
    MessagingSettingsForm,
    NoteForm,
    ReplyForm,
    StateForm,
    StepForm,
    StepFormSet,
    reply_token,
    steps_from_formset,
)
from messaging.ice_breakers import ice_breakers_save, ice_breakers_status, ice_breakers_statuses
from messaging.models import Conversation, ConversationState, DmRule, Flow, FlowVersion
from messaging.selectors import (
    ASSIGNED_TO_ME,
    CONVERSATION_CSV_HEADER,
    UNASSIGNED,
    conversation_csv_row,
    conversation_events,
    conversation_flow_runs,
    conversation_notes,
    conversation_thread,
    conversations_export,
    conversations_page,
    conversations_waiting_count,
    dm_rules_list,
    flows_list,
    workspace_members,
)
from messaging.services import (
    ReplyRefused,
    conversation_assign,
    conversation_reply,
    conversation_state_set,
    note_add,
    reply_window,
)


def _conversation(conversation_id: int) -> Conversation:
    return get_object_or_404(Conversation.objects.select_related("account", "assigned_to__user"), pk=conversation_id)


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; the CSV export streams
def conversation_list(request: WorkspaceRequest) -> HttpResponseBase:
    """The inbox: search, state, assignee and a date range on the last message; ``?format=csv`` exports it."""
    query = list_query_parse(request.GET, extra_keys=("state", "assigned"))
    state = query.filters.get("state", "")
    if state not in ConversationState.values:
        state = ""
    assigned = query.filters.get("assigned", "")
    membership = request.membership
    if query.wants_csv and not query.errors:
        return csv_response(
            filename=csv_filename("conversations", query),
            header=CONVERSATION_CSV_HEADER,
            queryset=conversations_export(query=query, state=state, assigned=assigned, membership=membership),
            row=conversation_csv_row,
        )
    page = conversations_page(query=query, state=state, assigned=assigned, membership=membership)
    return render(
        request,
        "messaging/conversation_list.html",
        {
            "conversations": page.object_list,
            "page": page,
            "list_query": query,
            "state": state,
            "assigned": assigned,
            "states": ConversationState.choices,
            "members": workspace_members(),
            "assigned_to_me": ASSIGNED_TO_ME,
            "unassigned": UNASSIGNED,
            "waiting_count": conversations_waiting_count(),
            "waiting": ConversationState.WAITING,
        },
        status=400 if query.errors else 200,
    )


def _detail(
    request: WorkspaceRequest, conversation: Conversation, *, reply_form: ReplyForm | None = None, status: int = 200
) -> HttpResponse:
    context: dict[str, Any] = {
        "conversation": conversation,
        "thread": conversation_thread(conversation=conversation),
        "notes": conversation_notes(conversation=conversation),
        "members": workspace_members(),
        "states": ConversationState.choices,
        "window": reply_window(conversation=conversation),
        "events": conversation_events(conversation=conversation),
        "flow_runs": conversation_flow_runs(conversation=conversation),
        "reply_form": reply_form or ReplyForm(initial={"token": reply_token()}),
        "note_form": NoteForm(),
    }
    return render(request, "messaging/conversation_detail.html", context, status=status)


@workspace_required
def conversation_detail(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    return _detail(request, _conversation(conversation_id))


@workspace_required
@require_POST
def conversation_reply_post(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(conversation_id)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        return _detail(request, conversation, reply_form=form)
    try:
        conversation_reply(
            conversation_id=conversation.pk,
            author=request.user,
            text=form.cleaned_data["text"],
            token=form.cleaned_data["token"],
        )
    except ReplyRefused as refusal:
        messages.error(request, str(refusal))
        return _detail(request, conversation, reply_form=form)
    messages.success(request, "Reply planned on the ledger: it is sent as soon as the safety gate allows.")
    return redirect("conversation_detail", conversation_id=conversation.pk)


@workspace_required
@require_POST
def conversation_state_post(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(conversation_id)
    form = StateForm(request.POST)
    if form.is_valid():
        conversation_state_set(conversation=conversation, state=form.cleaned_data["state"])
        messages.success(request, f"Conversation marked “{conversation.get_state_display()}”.")
    else:
        messages.error(request, "Choose a state.")
    return redirect("conversation_detail", conversation_id=conversation.pk)


@workspace_required
@require_POST
def conversation_assign_post(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(conversation_id)
    raw = request.POST.get("membership_id", "")
    membership = None
    if raw:
        # isdecimal, not isdigit: "²" is a digit int() refuses; past 18 digits no row has the id.
        if not raw.isdecimal() or len(raw) > 18:
            messages.error(request, "Choose a member.")
            return redirect("conversation_detail", conversation_id=conversation.pk)
        # The scoped manager: only members of the workspace in scope can be found.
        membership = get_object_or_404(Membership.objects.select_related("user"), pk=int(raw))
    conversation_assign(conversation=conversation, membership=membership)
    messages.success(request, f"Assigned to {membership.user}." if membership else "Unassigned.")
    return redirect("conversation_detail", conversation_id=conversation.pk)


@workspace_required
@require_POST
def conversation_note_post(request: WorkspaceRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation(conversation_id)
    form = NoteForm(request.POST)
    if form.is_valid():
        note_add(conversation=conversation, author=request.user, text=form.cleaned_data["text"])
        messages.success(request, "Note added.")
    else:
        messages.error(request, "A note needs some text.")
    return redirect("conversation_detail", conversation_id=conversation.pk)


# ---------------------------------------------------------------------------
# Automation: flows, DM rules, settings


@workspace_required
def automation_home(request: WorkspaceRequest) -> HttpResponse:
    accounts = list(InstagramAccount.objects.order_by("pk"))
    statuses = ice_breakers_statuses(accounts=accounts)
    return render(
        request,
        "messaging/automation.html",
        {
            "flows": flows_list(),
            "rules": dm_rules_list(),
            "has_accounts": bool(accounts),
            "config": messaging_settings_get(workspace_id=request.workspace.pk),
            "ice_breakers": [(account, statuses[account.pk]) for account in accounts],
        },
    )


@workspace_required
def ice_breakers_edit(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    """The account's ice breakers: edit the questions; saving sends them to Instagram through the ledger."""
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    status = ice_breakers_status(account=account)
    form = IceBreakersForm(request.POST or None, initial=IceBreakersForm.initial_for(status.questions))
    if request.method == "POST" and form.is_valid():
        questions = form.cleaned_data["questions"]
        ice_breakers_save(account=account, questions=questions, actor=request.user)
        if questions:
            count = f"{len(questions)} question{'s' if len(questions) > 1 else ''}"
            messages.success(request, f"Ice breakers saved: {count} on the way to Instagram.")
        else:
            messages.success(request, "Ice breakers removed: Instagram is being told to stop showing them.")
        return redirect("ice_breakers_edit", account_id=account.pk)
    return render(request, "messaging/ice_breakers.html", {"account": account, "form": form, "status": status})


def _flow_editor(
    request: WorkspaceRequest,
    *,
    flow: Flow | None,
    form: FlowForm,
    formset: Any,
    errors: list[str] | None = None,
    builder_steps: list[dict[str, Any]] | None = None,
    problems: list[tuple[int | None, str]] | None = None,
) -> HttpResponse:
    """The editor page: the form path (one form per step), enhanced by static/js/flow_builder.js.

    The builder's data (the steps it starts from and each problem with its step's index) goes through
    ``json_script``; ``?editor=form`` leaves it out, so the page stays the plain form even with JavaScript.
    """
    plain = request.GET.get("editor") == "form"
    if builder_steps is None:
        builder_steps = flow.current_version.steps if flow and flow.current_version else []
    builder = {
        "steps": builder_steps,
        "problems": [{"step": index, "message": message} for index, message in problems or []],
        "types": STEP_TYPES,
        "limits": {
            "steps": FLOW_STEPS_MAX,
            "quick_replies": QUICK_REPLIES_MAX,
            "title": QUICK_REPLY_TITLE_MAX,
            "delay": DELAY_MAX_SECONDS,
            "timeout": WEBHOOK_TIMEOUT_MAX,
        },
        "end": NEXT_END,
    }
    return render(
        request,
        "messaging/flow_form.html",
        {
            "flow": flow,
            "form": form,
            "formset": formset,
            "step_errors": errors or [],
            "step_types": STEP_TYPES,
            "versions": flow.versions.order_by("-number") if flow else [],
            "builder": None if plain else builder,
        },
    )


def _flow_save_from_builder(request: WorkspaceRequest, flow: Flow | None, data: Any) -> HttpResponse:
    """Save the builder's whole definition (JSON in ``steps_json``), checked as the form path checks it."""
    steps, problems = steps_from_json(str(data.get("steps_json") or ""))
    form = FlowForm(data, instance=flow)
    if not form.is_valid() or problems:
        formset = StepFormSet(prefix="steps", initial=_steps_initial(flow))
        errors = [message for _, message in problems]
        return _flow_editor(
            request,
            flow=flow,
            form=form,
            formset=formset,
            errors=errors,
            builder_steps=steps or None,
            problems=problems,
        )
    return _flow_saved(request, form, steps)


def _flow_saved(request: WorkspaceRequest, form: FlowForm, steps: list[dict[str, Any]]) -> HttpResponse:
    unsaved = form.save(commit=False)
    unsaved.workspace_id = request.workspace.pk
    saved, version = flow_save(flow=unsaved, steps=steps, author=request.user)
    if version is not None:
        messages.success(
            request,
            f"Saved as version {version.number}. Conversations already in the flow finish on their own version.",
        )
    else:
        messages.success(request, "Flow saved (the steps did not change, so no new version).")
    return redirect("flow_edit", flow_id=saved.pk)


def _steps_claimed(data: Any) -> int | None:
    """How many steps the page says it sent (TOTAL_FORMS), or None when that is garbage or over the limit."""
    management = StepFormSet(data, prefix="steps").management_form
    if not management.is_valid():
        return None
    claimed = management.cleaned_data["TOTAL_FORMS"]
    return claimed if claimed is not None and 0 <= claimed <= FLOW_STEPS_MAX else None


def _steps_initial(flow: Flow | None) -> list[dict[str, Any]]:
    if flow is None or flow.current_version is None:
        return [{"id": "step-1", "type": "send_text"}]
    return [StepForm.initial_from(step) for step in flow.current_version.steps]


def _flow_edit(request: WorkspaceRequest, flow: Flow | None) -> HttpResponse:
    if request.method != "POST":
        form = FlowForm(instance=flow)
        formset = StepFormSet(prefix="steps", initial=_steps_initial(flow))
        return _flow_editor(request, flow=flow, form=form, formset=formset)
    data = request.POST.copy()
    if "steps_json" in data:  # the builder posts the whole definition at once
        return _flow_save_from_builder(request, flow, data)
    total = _steps_claimed(data)
    if total is None:
        # Only a broken or forged page sends this. Building (and rendering) the forms it claims is
        # refused: the editor shows the saved steps again with the error, and nothing is saved.
        form = FlowForm(data, instance=flow)
        formset = StepFormSet(prefix="steps", initial=_steps_initial(flow))
        problem = f"The list of steps arrived incomplete or with more than {FLOW_STEPS_MAX} steps; nothing was saved."
        return _flow_editor(request, flow=flow, form=form, formset=formset, errors=[problem])
    if "add_step" in data:  # one more blank step, nothing saved yet
        full = total >= FLOW_STEPS_MAX
        if not full:
            data["steps-TOTAL_FORMS"] = str(total + 1)
            data[f"steps-{total}-ORDER"] = str(total + 1)
            data[f"steps-{total}-type"] = data.get("new_step_type") or "send_text"
            data[f"steps-{total}-id"] = f"step-{total + 1}"
        form = FlowForm(data, instance=flow)
        formset = StepFormSet(data, prefix="steps")
        at_limit = [f"A flow has at most {FLOW_STEPS_MAX} steps."] if full else None
        return _flow_editor(request, flow=flow, form=form, formset=formset, errors=at_limit)
    form = FlowForm(data, instance=flow)
    formset = StepFormSet(data, prefix="steps")
    errors: list[str] = []
    steps: list[dict[str, Any]] = []
    if formset.is_valid():
        steps = steps_from_formset(formset)
        errors = steps_validate(steps)
    else:
        errors = ["Some steps have invalid values: see the fields marked below."]
    if not form.is_valid() or errors:
        return _flow_editor(request, flow=flow, form=form, formset=formset, errors=errors, builder_steps=steps or None)
    return _flow_saved(request, form, steps)


@workspace_required
def flow_create(request: WorkspaceRequest) -> HttpResponse:
    if not InstagramAccount.objects.exists():
        messages.error(request, "Connect an Instagram account first.")
        return redirect("automation")
    return _flow_edit(request, None)


@workspace_required
def flow_edit(request: WorkspaceRequest, flow_id: int) -> HttpResponse:
    flow = get_object_or_404(Flow.objects.select_related("current_version", "account"), pk=flow_id)
    return _flow_edit(request, flow)


@workspace_required
def flow_version_detail(request: WorkspaceRequest, flow_id: int, number: int) -> HttpResponse:
    version = get_object_or_404(FlowVersion.objects.select_related("flow__account"), flow_id=flow_id, number=number)
    runs = version.runs.select_related("conversation").order_by("-started_at")[:50]
    return render(
        request,
        "messaging/flow_version.html",
        {"version": version, "flow": version.flow, "runs": runs, "step_types": STEP_TYPES},
    )


def _rule_edit(request: WorkspaceRequest, rule: DmRule | None) -> HttpResponse:
    form = DmRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        unsaved = form.save(commit=False)
        unsaved.workspace_id = request.workspace.pk
        unsaved.save()
        messages.success(request, "DM rule saved.")
        return redirect("automation")
    return render(request, "messaging/dm_rule_form.html", {"form": form, "rule": rule})


@workspace_required
def dm_rule_create(request: WorkspaceRequest) -> HttpResponse:
    if not InstagramAccount.objects.exists():
        messages.error(request, "Connect an Instagram account first.")
        return redirect("automation")
    return _rule_edit(request, None)


@workspace_required
def dm_rule_edit(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    return _rule_edit(request, get_object_or_404(DmRule.objects, pk=rule_id))


@workspace_required
@require_POST
def dm_rule_delete(request: WorkspaceRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(DmRule.objects, pk=rule_id)
    rule.delete()
    messages.success(request, f"DM rule “{rule.name}” deleted.")
    return redirect("automation")


@manager_required
def messaging_settings_edit(request: WorkspaceRequest) -> HttpResponse:
    config = messaging_settings_get(workspace_id=request.workspace.pk)
    form = MessagingSettingsForm(request.POST or None, instance=config)
    if request.method == "POST" and form.is_valid():
        messaging_settings_save(
            config=form.save(commit=False),
            api_key=form.cleaned_data.get("ai_api_key") or "",
            clear_api_key=bool(form.cleaned_data.get("clear_ai_api_key")),
        )
        messages.success(request, "Automation settings saved.")
        return redirect("messaging_settings")
    has_key = bool(config.ai_api_key_encrypted)
    # A stored key that no configured key decrypts: the page asks for it again (AI replies fall back meanwhile).
    key_unreadable = has_key and token_key_index(ciphertext=config.ai_api_key_encrypted) is None
    return render(
        request, "messaging/settings.html", {"form": form, "has_key": has_key, "key_unreadable": key_unreadable}
    )
