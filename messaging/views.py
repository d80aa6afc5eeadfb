from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import Membership
from messaging.forms import NoteForm, ReplyForm, StateForm, reply_token
from messaging.models import Conversation, ConversationState
from messaging.selectors import (
    ASSIGNED_TO_ME,
    INBOX_PAGE_SIZE,
    UNASSIGNED,
    conversation_notes,
    conversation_thread,
    conversations_search,
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


@workspace_required
def conversation_list(request: WorkspaceRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    state = request.GET.get("state", "")
    assigned = request.GET.get("assigned", "")
    conversations = conversations_search(query=query, state=state, assigned=assigned, membership=request.membership)
    return render(
        request,
        "messaging/conversation_list.html",
        {
            "conversations": conversations[:INBOX_PAGE_SIZE],
            "page_size": INBOX_PAGE_SIZE,
            "query": query,
            "state": state,
            "assigned": assigned,
            "states": ConversationState.choices,
            "members": workspace_members(),
            "assigned_to_me": ASSIGNED_TO_ME,
            "unassigned": UNASSIGNED,
        },
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
        if not raw.isdigit():
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
