from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.decorators import workspace_required
from accounts.middleware import WorkspaceRequest
from accounts.models import InstagramAccount
from actions.selectors import decisions_of
from engagement.forms import CommentRuleForm, CommentSettingsForm
from engagement.models import Comment, CommentRule, RuleScope
from engagement.selectors import (
    COMMENT_CSV_HEADER,
    actions_of_comment,
    comment_csv_row,
    comments_export,
    comments_flagged,
    comments_flagged_count,
    comments_page,
    hits_of_comment,
)
from engagement.services import (
    account_media_fetch,
    comment_review,
    comment_rule_save,
    comment_settings_of,
    comment_settings_save,
)
from instaforge.lists import csv_filename, csv_response, list_query_parse
from instagram.errors import GraphAPIError


def _media_or_error(account: InstagramAccount) -> tuple[list[dict[str, Any]] | None, str]:
    try:
        return account_media_fetch(account=account), ""
    except GraphAPIError as exc:
        return None, f"Could not read the account's posts from Instagram ({exc.message})."
    except Exception as exc:  # a token that no longer decrypts, Instagram unreachable…
        return None, f"Could not read the account's posts from Instagram ({type(exc).__name__})."


@workspace_required
def rule_edit(request: WorkspaceRequest, account_id: int, rule_id: int | None = None) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    rule = get_object_or_404(CommentRule.objects, pk=rule_id, account=account) if rule_id else None
    media, media_error = _media_or_error(account)
    instance = rule or CommentRule(account=account, workspace_id=account.workspace_id)
    form = CommentRuleForm(request.POST or None, instance=instance, media=media)
    if request.method == "POST" and form.is_valid():
        new_rule = form.save(commit=False)
        needs_media = (
            new_rule.scope == RuleScope.NEXT_POST and not new_rule.next_media_id and not new_rule.known_media_ids
        )
        if needs_media and media is None:
            form.add_error("scope", media_error + " “The next post” needs them: try again in a moment.")
        else:
            current = [str(item["id"]) for item in media or []]
            comment_rule_save(rule=new_rule, current_media_ids=current if needs_media else None)
            messages.success(request, f"Rule “{new_rule}” saved.")
            return redirect("account_detail", account_id=account.pk)
    return render(
        request,
        "engagement/rule_form.html",
        {"account": account, "form": form, "rule": rule, "media_error": media_error},
    )


@workspace_required
@require_POST
def rule_delete(request: WorkspaceRequest, account_id: int, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(CommentRule.objects, pk=rule_id, account_id=account_id)
    rule.delete()
    messages.success(request, f"Rule “{rule}” deleted.")
    return redirect("account_detail", account_id=account_id)


@workspace_required
def comment_settings(request: WorkspaceRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(InstagramAccount.objects, pk=account_id)
    form = CommentSettingsForm(request.POST or None, instance=comment_settings_of(account=account))
    if request.method == "POST" and form.is_valid():
        comment_settings_save(settings=form.save(commit=False))
        messages.success(request, "Comment settings saved.")
        return redirect("account_detail", account_id=account.pk)
    return render(request, "engagement/comment_settings.html", {"account": account, "form": form})


@workspace_required  # type: ignore[arg-type]  # typed for HttpResponse; the CSV export streams
def comment_list(request: WorkspaceRequest) -> HttpResponseBase:
    """Every comment, newest first, searched by text or commenter, in a date range; ``?format=csv`` exports them."""
    query = list_query_parse(request.GET)
    if query.wants_csv and not query.errors:
        return csv_response(
            filename=csv_filename("comments", query),
            header=COMMENT_CSV_HEADER,
            queryset=comments_export(query=query),
            row=comment_csv_row,
        )
    if query.errors:  # a date that does not exist, a tampered page link: the first page, unfiltered by it
        query.older = query.newer = None
    page = comments_page(query=query)
    return render(
        request,
        "engagement/comment_list.html",
        {
            "comments": page.rows,
            "page": page,
            "list_query": query,
            "flagged_count": comments_flagged_count(),
        },
        status=400 if query.errors else 200,
    )


@workspace_required
def comment_review_list(request: WorkspaceRequest) -> HttpResponse:
    return render(request, "engagement/review_list.html", {"comments": comments_flagged(limit=200)})


@workspace_required
@require_POST
def comment_review_decide(request: WorkspaceRequest, comment_id: int) -> HttpResponse:
    comment = get_object_or_404(Comment.objects.select_related("account"), pk=comment_id)
    decision = request.POST.get("decision", "")
    try:
        action = comment_review(comment=comment, decision=decision, user=request.user)
    except ValueError:
        messages.error(request, "Choose what to do with the comment: done, hide, unhide or delete.")
        return redirect("comment_review_list")
    if action is None:
        messages.success(request, f"Comment by @{comment.from_username} marked as reviewed.")
    else:
        messages.success(
            request, f"{action.get_action_type_display()} planned for the comment by @{comment.from_username}."
        )
    if request.POST.get("next") == "detail":
        return redirect("comment_detail", comment_id=comment.pk)
    return redirect("comment_review_list")


@workspace_required
def comment_detail(request: WorkspaceRequest, comment_id: int) -> HttpResponse:
    comment = get_object_or_404(
        Comment.objects.select_related("account", "matched_rule", "inbound_event"), pk=comment_id
    )
    actions = actions_of_comment(comment=comment)
    return render(
        request,
        "engagement/comment_detail.html",
        {
            "comment": comment,
            "hits": hits_of_comment(comment=comment),
            "actions": [(action, decisions_of(action=action)) for action in actions],
        },
    )
