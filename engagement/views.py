from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from actions.selectors import decisions_of
from engagement.forms import CommentRuleForm
from engagement.models import Comment, CommentRule
from engagement.selectors import comments_recent, reply_action_of
from engagement.services import comment_rule_save


@workspace_required
def rule_edit(request: WorkspaceRequest, account_id: int, rule_id: int | None = None) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    rule = get_object_or_404(CommentRule.objects, pk=rule_id, account=account) if rule_id else None
    form = CommentRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        new_rule = form.save(commit=False)
        new_rule.account = account
        new_rule.workspace_id = account.workspace_id
        comment_rule_save(rule=new_rule)
        messages.success(request, f"Rule “{new_rule}” saved.")
        return redirect("account_detail", account_id=account.pk)
    return render(request, "engagement/rule_form.html", {"account": account, "form": form, "rule": rule})


@workspace_required
@require_POST
def rule_delete(request: WorkspaceRequest, account_id: int, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(CommentRule.objects, pk=rule_id, account_id=account_id)
    rule.delete()
    messages.success(request, f"Rule “{rule}” deleted.")
    return redirect("account_detail", account_id=account_id)


@workspace_required
def comment_list(request: WorkspaceRequest) -> HttpResponse:
    return render(request, "engagement/comment_list.html", {"comments": comments_recent(limit=200)})


@workspace_required
def comment_detail(request: WorkspaceRequest, comment_id: int) -> HttpResponse:
    comment = get_object_or_404(
        Comment.objects.select_related("account", "matched_rule", "inbound_event"), pk=comment_id
    )
    action = reply_action_of(comment=comment)
    return render(
        request,
        "engagement/comment_detail.html",
        {"comment": comment, "action": action, "decisions": decisions_of(action=action) if action else []},
    )
