"""Tenancy fails closed: workspace B can neither see nor change anything of workspace A's."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, InstagramAccount, Invitation, Membership
from accounts.tenancy import NoWorkspaceInScope, workspace_scope
from accounts.vault import token_encrypt
from actions.models import Action
from alerts.models import Alert, AlertScope
from engagement.models import Comment, CommentRule
from integrations.models import WebhookDelivery, WebhookEndpoint
from messaging.models import Conversation, DmRule, Flow, FlowVersion, IceBreakerSet
from publishing.models import PostMedia, ScheduledPost


@pytest.fixture
def world(make_user, make_workspace, make_account, settings, tmp_path) -> dict[str, Any]:
    """Workspace A with an account, a rule, a comment and an action; a member of workspace B."""
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "publishing").mkdir()
    (tmp_path / "publishing" / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    owner_a = make_user("a@example.com")
    workspace_a = make_workspace("A", owner=owner_a)
    account = make_account(workspace_a, state=AccountState.ACTIVE)
    rule = CommentRule.all_workspaces.create(
        workspace=workspace_a, account=account, name="r", keywords="price", reply_templates="hi"
    )
    comment = Comment.all_workspaces.create(workspace=workspace_a, account=account, ig_comment_id="c1", text="price?")
    action = Action.all_workspaces.create(
        workspace=workspace_a,
        account=account,
        action_type="comment_reply",
        idempotency_key="k",
        payload={"message": "hi"},
        source_kind="comment",
        source_id=str(comment.pk),
    )
    conversation = Conversation.all_workspaces.create(
        workspace=workspace_a, account=account, participant_igsid="1234567890123456", participant_username="fan"
    )
    dm_rule = DmRule.all_workspaces.create(
        workspace=workspace_a, account=account, name="dm", keywords="price", reply_templates="hi"
    )
    flow = Flow.all_workspaces.create(workspace=workspace_a, account=account, name="flow", keywords="price")
    flow.current_version = FlowVersion.all_workspaces.create(
        workspace=workspace_a, flow=flow, number=1, steps=[{"id": "a", "type": "send_text", "text": "hi"}]
    )
    flow.save()
    endpoint = WebhookEndpoint.all_workspaces.create(
        workspace=workspace_a,
        url="http://127.0.0.1:9/hook",
        secret_encrypted=token_encrypt(plaintext="s"),
        event_kinds=["new_lead"],
    )
    delivery = WebhookDelivery.all_workspaces.create(
        workspace=workspace_a, endpoint=endpoint, event_kind="new_lead", body="{}", state="failed"
    )
    post = ScheduledPost.all_workspaces.create(workspace=workspace_a, account=account, kind="image")
    media = PostMedia.all_workspaces.create(
        workspace=workspace_a, post=post, file="publishing/a.jpg", media_type="image", width=1080, height=1080
    )
    member_b = make_user("b@example.com")
    make_workspace("B", owner=member_b)
    alert = Alert.all_workspaces.create(
        workspace=workspace_a, scope=AlertScope.WORKSPACE, condition="kill_switch", subject="x", title="stopped"
    )
    teammate = Membership.all_workspaces.create(workspace=workspace_a, user=make_user("mate@example.com"))
    invitation = Invitation.all_workspaces.create(workspace=workspace_a, email="new@example.com", invited_by=owner_a)
    return {
        "teammate": teammate,
        "invitation": invitation,
        "dm_rule": dm_rule,
        "flow": flow,
        "post": post,
        "media": media,
        "conversation": conversation,
        "owner_a": owner_a,
        "member_b": member_b,
        "account": account,
        "rule": rule,
        "comment": comment,
        "action": action,
        "endpoint": endpoint,
        "delivery": delivery,
        "alert": alert,
    }


def urls_with_ids(world: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, url name, url) for every product URL that takes an object id."""
    account, rule = world["account"], world["rule"]
    routes = [
        ("get", "account_detail", [account.pk]),
        ("get", "account_figures", [account.pk]),
        ("post", "account_time_zone", [account.pk]),
        ("get", "account_analytics", [account.pk]),
        ("post", "insights_refresh_now", [account.pk]),
        ("post", "account_pause", [account.pk]),
        ("post", "account_resume", [account.pk]),
        ("get", "rule_create", [account.pk]),
        ("post", "rule_create", [account.pk]),
        ("get", "rule_edit", [account.pk, rule.pk]),
        ("post", "rule_edit", [account.pk, rule.pk]),
        ("post", "rule_delete", [account.pk, rule.pk]),
        ("get", "comment_detail", [world["comment"].pk]),
        ("get", "action_detail", [world["action"].pk]),
        ("get", "account_safety", [account.pk]),
        ("post", "account_safety", [account.pk]),
        ("get", "account_warmup", [account.pk]),
        ("get", "conversation_detail", [world["conversation"].pk]),
        ("post", "conversation_reply", [world["conversation"].pk]),
        ("post", "conversation_state", [world["conversation"].pk]),
        ("post", "conversation_assign", [world["conversation"].pk]),
        ("post", "conversation_note", [world["conversation"].pk]),
        ("get", "flow_edit", [world["flow"].pk]),
        ("post", "flow_edit", [world["flow"].pk]),
        ("get", "flow_version", [world["flow"].pk, 1]),
        ("get", "dm_rule_edit", [world["dm_rule"].pk]),
        ("post", "dm_rule_edit", [world["dm_rule"].pk]),
        ("post", "dm_rule_delete", [world["dm_rule"].pk]),
        ("get", "comment_settings", [account.pk]),
        ("post", "comment_settings", [account.pk]),
        ("post", "comment_review", [world["comment"].pk]),
        ("get", "webhook_endpoint_edit", [world["endpoint"].pk]),
        ("post", "webhook_endpoint_edit", [world["endpoint"].pk]),
        ("post", "webhook_endpoint_delete", [world["endpoint"].pk]),
        ("post", "webhook_endpoint_test", [world["endpoint"].pk]),
        ("post", "webhook_endpoint_secret_reset", [world["endpoint"].pk]),
        ("post", "webhook_delivery_resend", [world["delivery"].pk]),
        ("get", "post_detail", [world["post"].pk]),
        ("get", "post_edit", [world["post"].pk]),
        ("post", "post_edit", [world["post"].pk]),
        ("post", "post_schedule", [world["post"].pk]),
        ("post", "post_unschedule", [world["post"].pk]),
        ("post", "post_move", [world["post"].pk]),
        ("get", "publishing_media", [world["media"].pk]),
        ("get", "ice_breakers_edit", [account.pk]),
        ("post", "ice_breakers_edit", [account.pk]),
        ("get", "alert_detail", [world["alert"].pk]),
        ("post", "alert_acknowledge", [world["alert"].pk]),
        ("get", "account_disconnect", [account.pk]),
        ("post", "account_disconnect", [account.pk]),
        ("post", "member_role_change", [world["teammate"].pk]),
        ("get", "member_remove", [world["teammate"].pk]),
        ("post", "member_remove", [world["teammate"].pk]),
        ("post", "invitation_revoke", [world["invitation"].pk]),
        ("post", "invitation_resend", [world["invitation"].pk]),
    ]
    return [(method, name, reverse(name, args=args)) for method, name, args in routes]


def product_url_names_with_ids() -> set[str]:
    from django.urls import URLPattern, URLResolver, get_resolver

    names: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith(("admin/", "accounts/")):  # the admin and allauth are not tenant pages
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and "<int:" in route and pattern.name:
                names.add(pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


URL_COUNT = 55


@pytest.mark.parametrize("index", range(URL_COUNT))
def test_another_workspace_gets_404_and_changes_nothing(client: Client, world: dict[str, Any], index: int) -> None:
    method, _, url = urls_with_ids(world)[index]
    client.force_login(world["member_b"])
    data = {
        "name": "stolen",
        "keywords": "x",
        "reply_templates": "y",
        "priority": 1,
        "is_active": "on",
        "date": "2030-01-02",
        "kind": "image",
        "caption": "stolen",
        "role": "owner",
        "time_zone": "Pacific/Kiritimati",
    }
    response = client.get(url) if method == "get" else client.post(url, data)
    assert response.status_code == 404
    account = InstagramAccount.all_workspaces.get(pk=world["account"].pk)
    assert account.state == AccountState.ACTIVE
    assert account.time_zone == world["account"].time_zone
    rule = CommentRule.all_workspaces.get(pk=world["rule"].pk)
    assert rule.name == "r"
    assert CommentRule.all_workspaces.count() == 1
    assert DmRule.all_workspaces.get(pk=world["dm_rule"].pk).name == "dm"
    assert Flow.all_workspaces.get(pk=world["flow"].pk).name == "flow"
    assert FlowVersion.all_workspaces.count() == 1
    assert WebhookEndpoint.all_workspaces.filter(pk=world["endpoint"].pk, url="http://127.0.0.1:9/hook").exists()
    assert WebhookDelivery.all_workspaces.count() == 1
    post = ScheduledPost.all_workspaces.get(pk=world["post"].pk)
    assert (post.state, post.scheduled_at) == ("draft", None)
    assert post.caption != "stolen"
    assert not IceBreakerSet.all_workspaces.exists()
    assert Alert.all_workspaces.get(pk=world["alert"].pk).acknowledged_at is None
    assert Membership.all_workspaces.get(pk=world["teammate"].pk).role == "member"
    invitation = Invitation.all_workspaces.get(pk=world["invitation"].pk)
    assert invitation.token == world["invitation"].token


@pytest.mark.parametrize("index", range(URL_COUNT))
def test_the_owning_workspace_can_use_every_url(client: Client, world: dict[str, Any], index: int) -> None:
    method, _, url = urls_with_ids(world)[index]
    client.force_login(world["owner_a"])
    response = (
        client.get(url)
        if method == "get"
        else client.post(
            url, {"name": "n", "keywords": "x", "reply_templates": "y", "priority": 1, "date": "2030-01-02"}
        )
    )
    assert response.status_code in (200, 302)


def test_the_url_list_covers_every_url_that_takes_an_object_id(world: dict[str, Any]) -> None:
    tested = {name for _, name, _ in urls_with_ids(world)}
    assert len(urls_with_ids(world)) == URL_COUNT
    assert product_url_names_with_ids() == tested


def test_lists_show_only_the_own_workspace(client: Client, world: dict[str, Any]) -> None:
    client.force_login(world["member_b"])
    for name in ("dashboard", "comment_list", "action_list", "post_list", "post_calendar"):
        content = client.get(reverse(name)).content.decode()
        assert world["account"].username not in content
        assert "price?" not in content


def test_the_session_cannot_select_a_workspace_the_user_is_not_a_member_of(
    client: Client, world: dict[str, Any]
) -> None:
    client.force_login(world["member_b"])
    response = client.post(reverse("workspace_switch"), {"workspace_id": world["account"].workspace_id})
    assert response.status_code == 404
    session = client.session
    session["active_workspace_id"] = world["account"].workspace_id  # a tampered session
    session.save()
    assert client.get(reverse("account_detail", args=[world["account"].pk])).status_code == 404


def test_scoped_manager_raises_without_a_workspace_in_scope(world: dict[str, Any]) -> None:
    with pytest.raises(NoWorkspaceInScope):
        list(InstagramAccount.objects.all())
    with workspace_scope(world["account"].workspace_id):
        assert list(InstagramAccount.objects.all()) == [world["account"]]
    other = Membership.all_workspaces.get(user=world["member_b"]).workspace
    with workspace_scope(other):
        assert not InstagramAccount.objects.exists()
