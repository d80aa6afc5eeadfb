"""The workspace activity log (privacy/activity.py): what it records, in words, for its own workspace only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.test import Client
from django.urls import reverse

from accounts.middleware import SESSION_KEY
from accounts.models import InstagramAccount, Membership, Role, User, Workspace
from accounts.services import invitation_create, membership_remove, membership_role_change
from accounts.tenancy import workspace_scope
from actions.dispatcher.loop import dispatch_once
from alerts.services import alert_settings_slack_set
from engagement.models import CommentRule
from engagement.services import comment_rule_save
from integrations.models import WebhookEndpoint
from integrations.services import endpoint_create, endpoint_secret, endpoint_update
from messaging.automation import flow_save, messaging_settings_get
from messaging.models import DmRule, Flow
from messaging.tests.conftest import deliver, message_item
from privacy.audit import AUDITED_MODELS, audit_exclusions

pytestmark = pytest.mark.django_db

ACTIVITY = "/workspace/activity/"


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner@bakery.example")


@pytest.fixture
def bakery(make_workspace: Callable[..., Workspace], owner: User) -> Workspace:
    return make_workspace("Corner Bakery", owner=owner)


@pytest.fixture
def shop(make_account: Callable[..., InstagramAccount], bakery: Workspace) -> InstagramAccount:
    return make_account(bakery, username="corner_bakery")


def logged_in(client: Client, user: User, workspace: Workspace) -> Client:
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = workspace.pk
    session.save()
    return client


def member(workspace: Workspace, email: str, role: str, make_user: Callable[..., User]) -> User:
    user = make_user(email)
    Membership.all_workspaces.create(workspace=workspace, user=user, role=role)
    return user


def rule_of(account: InstagramAccount, name: str, actor: User) -> CommentRule:
    with set_actor(actor), workspace_scope(account.workspace_id):
        return comment_rule_save(
            rule=CommentRule(
                workspace_id=account.workspace_id, account=account, name=name, keywords="price", reply_templates="2.50!"
            )
        )


def test_the_followed_models_leave_their_secrets_out() -> None:
    for model in AUDITED_MODELS:
        assert auditlog.contains(model), model
    assert "secret_encrypted" in audit_exclusions(WebhookEndpoint)
    assert "ai_api_key_encrypted" in audit_exclusions(
        next(m for m in AUDITED_MODELS if m.__name__ == "MessagingSettings")
    )
    assert "slack_webhook_url_encrypted" in audit_exclusions(
        next(m for m in AUDITED_MODELS if m.__name__ == "AlertSettings")
    )
    assert Flow in AUDITED_MODELS and DmRule in AUDITED_MODELS


def test_a_rule_change_reads_who_what_and_the_change_in_words(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount, make_user: Callable[..., User]
) -> None:
    admin = member(bakery, "admin@bakery.example", Role.ADMIN, make_user)
    rule = rule_of(shop, "Prices", owner)
    with set_actor(admin), workspace_scope(bakery):
        rule.name = "Prices and hours"
        rule.is_active = False
        comment_rule_save(rule=rule)
    page = logged_in(client, owner, bakery).get(ACTIVITY)
    assert page.status_code == 200
    text = page.content.decode()
    assert "admin@bakery.example" in text and "owner@bakery.example" in text
    assert "Prices and hours" in text
    assert "Prices → Prices and hours" in text
    assert "→ off" in text  # a switch in words, not True/False
    assert reverse("rule_edit", args=[shop.pk, rule.pk]) in text  # the rule still exists: a link


def test_members_are_refused_and_admins_read_it(
    client: Client, bakery: Workspace, make_user: Callable[..., User]
) -> None:
    plain = member(bakery, "member@bakery.example", Role.MEMBER, make_user)
    assert logged_in(client, plain, bakery).get(ACTIVITY).status_code == 403
    admin = member(bakery, "admin@bakery.example", Role.ADMIN, make_user)
    assert logged_in(Client(), admin, bakery).get(ACTIVITY).status_code == 200


def test_no_entry_of_another_workspace_ever_shows(
    client: Client,
    owner: User,
    bakery: Workspace,
    shop: InstagramAccount,
    make_workspace: Callable[..., Workspace],
    make_user: Callable[..., User],
    make_account: Callable[..., InstagramAccount],
) -> None:
    rival_owner = make_user("boss@rival.example")
    rival = make_workspace("Rival Cafe", owner=rival_owner)
    rival_account = make_account(rival, username="rival_cafe")
    # The rival's rules (one deleted: its entry outlives the row), members, endpoints and settings.
    secret_rule = rule_of(rival_account, "Rival secret plan", rival_owner)
    with set_actor(rival_owner), workspace_scope(rival):
        secret_rule.delete()
        endpoint_create(workspace=rival, url="https://crm.rival.example/hook", event_kinds=["new_lead"])
        messaging_settings_get(workspace_id=rival.pk)
    member(rival, "spy@rival.example", Role.MEMBER, make_user)
    invitation_create(workspace=rival, email="hire@rival.example", role=Role.MEMBER, invited_by=rival_owner)
    # The bakery's own.
    deleted = rule_of(shop, "Old bakery rule", owner)
    with set_actor(owner), workspace_scope(bakery):
        deleted.delete()

    assert LogEntry.objects.filter(additional_data__workspace_id=rival.pk).count() >= 6
    client = logged_in(client, owner, bakery)
    for query in ("", "?kind=comment-rules", "?kind=members", "?kind=endpoints", "?kind=invitations", "?page=2"):
        text = client.get(ACTIVITY + query).content.decode()
        for foreign in ("Rival", "rival", "spy@", "hire@", "boss@"):
            assert foreign not in text, (query, foreign)
    text = client.get(ACTIVITY).content.decode()
    assert "Old bakery rule" in text  # a deleted row of its own still shows, without a link
    # A person filter naming the rival's owner is ignored: still only the bakery's entries.
    text = client.get(f"{ACTIVITY}?person={rival_owner.pk}").content.decode()
    assert "Rival" not in text and "Old bakery rule" in text


def test_member_changes_read_in_plain_words_and_filters_work(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount, make_user: Callable[..., User]
) -> None:
    anna = member(bakery, "anna@bakery.example", Role.MEMBER, make_user)
    ben = member(bakery, "ben@bakery.example", Role.ADMIN, make_user)
    with set_actor(owner):
        membership_role_change(
            workspace=bakery, membership_id=Membership.all_workspaces.get(user=anna).pk, role=Role.ADMIN, actor=owner
        )
        invitation_create(workspace=bakery, email="carl@bakery.example", role=Role.MEMBER, invited_by=owner)
    with set_actor(ben):
        membership_remove(workspace=bakery, membership_id=Membership.all_workspaces.get(user=anna).pk, actor=ben)
    rule_of(shop, "Prices", ben)

    client = logged_in(client, owner, bakery)
    text = client.get(ACTIVITY + "?kind=members").content.decode()
    assert "Role: Member → Admin" in text
    assert "removed from the workspace (was admin)" in text
    assert "Prices" not in text  # another kind
    assert "invited as member" in client.get(ACTIVITY + "?kind=invitations").content.decode()
    by_ben = client.get(f"{ACTIVITY}?person={ben.pk}").content.decode()
    assert "Prices" in by_ben and "Role: Member → Admin" not in by_ben
    assert client.get(ACTIVITY + "?kind=nonsense&person=x'1").status_code == 200  # ignored, not an error


def test_endpoint_and_alert_secrets_never_show(client: Client, owner: User, bakery: Workspace, settings: Any) -> None:
    with set_actor(owner), workspace_scope(bakery):
        endpoint = endpoint_create(
            workspace=bakery, url="https://crm.example/hook?api_key=sk-live-0123456789", event_kinds=["new_lead"]
        )
        secret = endpoint_secret(endpoint=endpoint)
        endpoint_update(
            endpoint=endpoint,
            url="https://crm.example/hook2?token=tok-9876543210",
            event_kinds=["new_lead"],
            description="",
            is_active=True,
        )
        alert_settings_slack_set(workspace_id=bakery.pk, url="https://hooks.slack.com/services/T000/B000/XXXXSECRET")
    text = logged_in(client, owner, bakery).get(ACTIVITY).content.decode()
    assert "crm.example/hook" in text
    for leaked in (secret, endpoint.secret_encrypted, "sk-live-0123456789", "tok-9876543210", "XXXXSECRET"):
        assert leaked not in text
    assert "webhook address (a secret: not shown)" in text


def test_the_log_is_paged_and_its_queries_do_not_grow_with_entries(
    client: Client,
    owner: User,
    bakery: Workspace,
    shop: InstagramAccount,
    django_assert_max_num_queries: Any,
) -> None:
    for number in range(55):
        rule_of(shop, f"Rule {number:02d}", owner)
    client = logged_in(client, owner, bakery)
    with django_assert_max_num_queries(20):
        first = client.get(ACTIVITY).content.decode()
    assert "Rule 54" in first and "Rule 00" not in first
    assert "Page 1 of 2" in first
    second = client.get(ACTIVITY + "?page=2").content.decode()
    assert "Rule 00" in second and "Rule 54" not in second


def test_direct_messages_through_rules_and_flows_write_no_entry(workspace: Workspace, make_account: Any) -> None:
    """The DM hot path (ingest, rules, a flow, settings read, the dispatcher) saves no followed model per event."""
    account = make_account(workspace)
    DmRule.all_workspaces.create(
        workspace=workspace, account=account, name="r", keywords="price", reply_templates="2.50"
    )
    with workspace_scope(workspace):
        flow_save(
            flow=Flow(workspace_id=workspace.pk, account=account, name="F", keywords="start"),
            steps=[{"id": "a", "type": "send_text", "text": "hi"}],
        )
    messaging_settings_get(workspace_id=workspace.pk)
    before = LogEntry.objects.count()
    for number, text in enumerate(("price?", "start", "price again", "hello")):
        event = deliver(account, message_item(account, mid=f"m{number}", text=text))
        assert event.state == "processed", event.outcome
    while dispatch_once(worker_id="activity-test"):
        pass
    assert LogEntry.objects.count() == before


@pytest.mark.parametrize(
    "query",
    [
        "?page=-1",
        "?page=abc",
        "?page=99999999999999999999",
        "?person=99999999999999999999",
        "?person=-5&kind=members",
        "?kind=" + "k" * 5000,
        "?person=%00",
    ],
)
def test_hostile_filters_and_pages_are_answered_not_a_500(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount, query: str
) -> None:
    rule_of(shop, "Prices", owner)
    response = logged_in(client, owner, bakery).get(ACTIVITY + query)
    assert response.status_code in (200, 400, 404)
