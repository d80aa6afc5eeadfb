"""The Safety pages of the web app: effective limits with their source, overrides, kill switch, audit trail.

Members see them; owners and admins change them. The account comes from the
scoped manager, so another workspace's account is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from safety import selectors
from safety.forms import KillSwitchForm, OverridesForm
from safety.guide import SettingLine, TopicLines, plain_message, setting_label, settings_topics
from safety.policies import Scope, keys_overridable_at
from safety.services import PolicyOverrideError, kill_switch_set, policy_override_set


@workspace_required
def workspace_safety(request: WorkspaceRequest) -> HttpResponse:
    return _safety_page(request, account=None)


@workspace_required
def account_safety(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    return _safety_page(request, account=account)


def _safety_page(request: WorkspaceRequest, *, account: InstagramAccount | None) -> HttpResponse:
    workspace_id = request.workspace.pk
    account_id = account.pk if account is not None else None
    scope = Scope.ACCOUNT if account is not None else Scope.WORKSPACE
    editable = {entry.key for entry in keys_overridable_at(scope)}
    rows = selectors.policy_effective(workspace_id=workspace_id, account_id=account_id)
    override = selectors.safety_override_of(workspace_id=workspace_id, account_id=account_id)
    posted = request.POST if request.method == "POST" else None
    which = request.POST.get("form", "limits") if posted is not None else ""
    overrides_form = OverridesForm(
        posted if which == "limits" else None, rows=[row for row in rows if row.key in editable]
    )
    switch_form = KillSwitchForm(
        posted if which == "kill_switch" else None,
        initial={
            "stopped": bool(override and override.sending_stopped),
            "reason": override.stopped_reason if override else "",
        },
    )
    if posted is not None:
        if not request.membership.can_manage:
            raise PermissionDenied("Only owners and admins of the workspace can change safety settings.")
        if which == "kill_switch" and switch_form.is_valid():
            stopped = switch_form.cleaned_data["stopped"]
            kill_switch_set(
                workspace_id=workspace_id,
                account_id=account_id,
                stopped=stopped,
                reason=switch_form.cleaned_data["reason"],
                actor=request.user,
            )
            messages.success(request, "Sending stopped: work is planned and waits." if stopped else "Sending resumed.")
            return redirect(request.path)
        if which == "limits" and overrides_form.is_valid():
            try:
                policy_override_set(
                    workspace_id=workspace_id, account_id=account_id, values=overrides_form.values(), actor=request.user
                )
            except PolicyOverrideError as exc:
                for key, message in exc.errors.items():
                    overrides_form.add_error(key if key in overrides_form.fields else None, plain_message(message))
            else:
                messages.success(request, "Safety limits saved.")
                return redirect(request.path)
    with_account = account_id if account is not None else None
    topics = settings_topics(
        rows=[(row.key, row.value, row.source) for row in rows],
        account_scope=account is not None,
        warmup=selectors.account_warmup_today(account=account) if account is not None else None,
        timing=selectors.timing_facts(),
    )
    changes = [(change, setting_label(change.setting)) for change in selectors.safety_changes(account_id=with_account)]
    return render(
        request,
        "safety/safety.html",
        {
            "account": account,
            "topics": [
                _TopicView.of(topic, overrides_form if request.membership.can_manage else None) for topic in topics
            ],
            "override": override,
            "overrides_form": overrides_form,
            "switch_form": switch_form,
            "changes": changes,
            "platform_stopped": selectors.global_kill_switch().sending_stopped,
            "can_manage": request.membership.can_manage,
            "risk": selectors.account_risk(workspace_id=workspace_id, account_id=account.pk) if account else None,
            "events": selectors.safety_events(account_id=account.pk) if account else [],
        },
    )


@dataclass(frozen=True)
class _TopicView:
    """A topic of the page with each line's form field (None: not editable here, or the member cannot edit)."""

    topic: TopicLines
    lines: list[tuple[SettingLine, forms.BoundField | None]]
    has_errors: bool

    @classmethod
    def of(cls, topic: TopicLines, form: OverridesForm | None) -> _TopicView:
        lines = [
            (line, form[line.key] if form is not None and line.key in form.fields else None) for line in topic.lines
        ]
        return cls(topic, lines, any(field is not None and field.errors for _, field in lines))
