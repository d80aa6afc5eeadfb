"""The owners' disconnect and delete-workspace pages, and the audit trail they leave (privacy/pages.py, audit.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from unfold.admin import ModelAdmin as UnfoldModelAdmin

import privacy.audit
from accounts.middleware import SESSION_KEY
from accounts.models import AccountState, InstagramAccount, Invitation, Membership, Role, User, Workspace
from accounts.services import account_pause
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from engagement.models import Comment, CommentRule
from engagement.services import comment_rule_save
from messaging.models import Conversation, Message
from privacy.audit import (
    account_disconnect_audited,
    audit_exclusions,
    counts_in_words,
    workspace_erase_audited,
)
from sandbox.services import sandbox_comment_post
from sandbox.testing import SandboxServer
from sandbox.webhooks import comment_webhook_payload, webhook_deliver
from tests.factories import CommentFactory, MembershipFactory, MessageFactory, account_connected_in_sandbox

pytestmark = pytest.mark.django_db

TOKEN = "IGAAT-plain-token-of-the-shop-0123456789"


def disconnect_url(account: InstagramAccount) -> str:
    return reverse("account_disconnect", args=[account.pk])


@pytest.fixture
def owner(make_user: Callable[..., User]) -> User:
    return make_user("owner@bakery.example")


@pytest.fixture
def bakery(make_workspace: Callable[..., Workspace], owner: User) -> Workspace:
    return make_workspace("Corner Bakery", owner=owner)


@pytest.fixture
def shop(make_account: Callable[..., InstagramAccount], bakery: Workspace) -> InstagramAccount:
    """The account to disconnect, with a comment and a conversation of two messages."""
    account = make_account(bakery, token=TOKEN, username="corner_bakery")
    CommentFactory(account=account, text="Do you deliver on Sundays?")
    message = MessageFactory(conversation__account=account, text="Hello bakery")
    MessageFactory(conversation=message.conversation, text="Still open?")
    return account


@pytest.fixture
def other(make_account: Callable[..., InstagramAccount], bakery: Workspace) -> InstagramAccount:
    """Another account of the same workspace, which nothing here may touch."""
    account = make_account(bakery, token="token-of-the-other-account", username="bakery_cafe")
    CommentFactory(account=account, text="Lovely croissants")
    MessageFactory(conversation__account=account, text="A table for two?")
    return account


def logged_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def member_of(workspace: Workspace, role: str, make_user: Callable[..., User]) -> User:
    user = make_user(f"{role}@bakery.example")
    MembershipFactory(workspace=workspace, user=user, role=role)
    return user


def entries_text() -> str:
    """Every audit entry, every field, as one text: what a search for a secret would read."""
    rows = LogEntry.objects.values(
        "object_repr", "changes", "changes_text", "serialized_data", "additional_data", "actor_email"
    )
    return json.dumps(list(rows), default=str)


# Disconnecting an account.


def test_the_page_explains_what_happens_and_keeps_history_by_default(
    client: Client, owner: User, shop: InstagramAccount
) -> None:
    response = logged_in(client, owner).get(disconnect_url(shop))

    assert response.status_code == 200
    html = response.content.decode()
    assert "destroys the account's access token" in html
    assert "Nothing is sent from this account any more" in html
    assert "Planned replies and actions are cancelled" in html
    assert "Apps and websites" in html and "Meta documents no way for an app to revoke" in html
    assert 'value="keep" checked' in html and 'value="delete" checked' not in html
    assert "<code>corner_bakery</code>" in html  # what to type to delete the history
    assert response.context["holdings"] == {"conversations": 1, "messages": 2, "comments": 1, "posts": 0}
    assert "<script>" not in html  # the CSP refuses inline scripts


def test_owner_disconnects_keeping_the_history(
    client: Client, owner: User, shop: InstagramAccount, other: InstagramAccount
) -> None:
    response = logged_in(client, owner).post(disconnect_url(shop), {"history": "keep"})

    assert response.status_code == 302
    assert response["Location"] == reverse("account_detail", args=[shop.pk])
    shop.refresh_from_db()
    assert shop.state == AccountState.INACTIVE
    assert shop.access_token_encrypted == ""
    transition = shop.transitions.first()
    assert transition is not None and transition.cause == "disconnected by owner@bakery.example"
    # The history stays, visible on the account's page.
    assert Comment.all_workspaces.filter(account=shop).count() == 1
    assert Message.all_workspaces.filter(account=shop).count() == 2
    page = client.get(response["Location"]).content.decode()
    assert "is disconnected; its history is kept" in page
    assert "Do you deliver on Sundays?" in page
    # The other account is untouched.
    other.refresh_from_db()
    assert other.state == AccountState.ACTIVE and other.access_token_encrypted
    # The audit trail says who chose what.
    entry = LogEntry.objects.get(additional_data__event="account disconnected")
    assert entry.actor == owner and entry.actor_email == "owner@bakery.example"
    assert entry.action == LogEntry.Action.UPDATE
    assert entry.additional_data["history"] == "kept"
    assert entry.object_id == shop.pk and entry.object_repr == "@corner_bakery"
    assert entry.cid and len(entry.cid) == 32  # the request's correlation id, as on its log lines


def test_owner_disconnects_deleting_the_history(
    client: Client, owner: User, shop: InstagramAccount, other: InstagramAccount
) -> None:
    response = logged_in(client, owner).post(
        disconnect_url(shop), {"history": "delete", "confirm_username": "@Corner_Bakery "}
    )

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert not InstagramAccount.all_workspaces.filter(pk=shop.pk).exists()
    assert not Comment.all_workspaces.filter(account_id=shop.pk).exists()
    assert not Conversation.all_workspaces.filter(account_id=shop.pk).exists()
    assert not Message.all_workspaces.filter(account_id=shop.pk).exists()
    # The other account keeps its token and its history.
    other.refresh_from_db()
    assert other.state == AccountState.ACTIVE and other.access_token_encrypted
    assert Comment.all_workspaces.filter(account=other).count() == 1
    assert Message.all_workspaces.filter(account=other).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "@corner_bakery is disconnected and its history deleted" in page
    assert "1 comment" in page and "2 messages" in page
    # The audit entry outlives the account it names.
    entry = LogEntry.objects.get(additional_data__event="account disconnected")
    assert entry.action == LogEntry.Action.DELETE
    assert entry.actor_email == "owner@bakery.example"
    assert entry.additional_data["history"] == "deleted"
    assert entry.additional_data["counts"]["comments"] == 1
    assert entry.additional_data["counts"]["messages"] == 2
    assert entry.object_repr == "@corner_bakery"


def test_deleting_the_history_without_the_typed_username_deletes_nothing(
    client: Client, owner: User, shop: InstagramAccount
) -> None:
    logged_in(client, owner)
    for typed in ("", "corner_bakery_not", "bakery_cafe"):
        response = client.post(disconnect_url(shop), {"history": "delete", "confirm_username": typed})

        assert response.status_code == 200
        html = response.content.decode()
        assert "Type corner_bakery exactly to delete its history. Nothing was deleted." in html
        assert 'value="delete" checked' in html  # the choice is kept for the second try
    shop.refresh_from_db()
    assert shop.state == AccountState.ACTIVE and shop.access_token_encrypted
    assert Comment.all_workspaces.filter(account=shop).count() == 1
    assert not LogEntry.objects.filter(additional_data__event="account disconnected").exists()


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MEMBER])
def test_admins_and_members_are_refused_and_nothing_changes(
    client: Client,
    bakery: Workspace,
    shop: InstagramAccount,
    make_user: Callable[..., User],
    role: str,
) -> None:
    logged_in(client, member_of(bakery, role, make_user))

    assert client.get(disconnect_url(shop)).status_code == 403
    assert client.post(disconnect_url(shop), {"history": "keep"}).status_code == 403
    assert (
        client.post(disconnect_url(shop), {"history": "delete", "confirm_username": "corner_bakery"}).status_code == 403
    )
    assert client.get(reverse("workspace_delete")).status_code == 403
    assert client.post(reverse("workspace_delete"), {"confirm_name": "Corner Bakery"}).status_code == 403

    shop.refresh_from_db()
    assert shop.state == AccountState.ACTIVE and shop.access_token_encrypted
    assert Workspace.objects.filter(pk=bakery.pk).exists()
    assert Comment.all_workspaces.filter(account=shop).count() == 1
    # Neither link is offered to them.
    assert (
        'data-testid="account-disconnect"' not in client.get(reverse("account_detail", args=[shop.pk])).content.decode()
    )
    assert 'data-testid="workspace-delete"' not in client.get(reverse("members")).content.decode()


def test_the_links_are_offered_to_owners(client: Client, owner: User, shop: InstagramAccount) -> None:
    logged_in(client, owner)

    detail = client.get(reverse("account_detail", args=[shop.pk])).content.decode()
    assert f'href="{disconnect_url(shop)}"' in detail
    members = client.get(reverse("members")).content.decode()
    assert f'href="{reverse("workspace_delete")}"' in members and "Danger zone" in members
    # One style for every destructive button.
    assert 'class="btn danger" href="/instagram/' in detail
    assert 'class="btn danger" href="/workspace/delete/"' in members


def test_another_workspaces_account_is_not_found(
    client: Client,
    owner: User,
    shop: InstagramAccount,
    make_workspace: Callable[..., Workspace],
    make_account: Callable[..., InstagramAccount],
) -> None:
    elsewhere = make_account(make_workspace("Someone Else"), username="someone_else")
    logged_in(client, owner)

    assert client.get(disconnect_url(elsewhere)).status_code == 404
    response = client.post(disconnect_url(elsewhere), {"history": "delete", "confirm_username": "someone_else"})
    assert response.status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.state == AccountState.ACTIVE and elsewhere.access_token_encrypted
    assert client.get(reverse("account_disconnect", args=[987654])).status_code == 404


def test_an_already_disconnected_account_can_have_its_history_deleted(
    client: Client, owner: User, shop: InstagramAccount
) -> None:
    logged_in(client, owner)
    client.post(disconnect_url(shop), {"history": "keep"})

    page = client.get(disconnect_url(shop)).content.decode()
    assert "This account is already disconnected" in page
    response = client.post(disconnect_url(shop), {"history": "delete", "confirm_username": "corner_bakery"})

    assert response.status_code == 302
    assert not InstagramAccount.all_workspaces.filter(pk=shop.pk).exists()
    assert LogEntry.objects.filter(additional_data__event="account disconnected").count() == 2


# Deleting a workspace.


def test_the_delete_page_lists_what_will_be_deleted(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount, other: InstagramAccount
) -> None:
    response = logged_in(client, owner).get(reverse("workspace_delete"))

    assert response.status_code == 200
    assert response.context["holdings"] == {
        "Instagram accounts": 2,
        "conversations": 2,
        "comments": 2,
        "posts": 0,
        "members": 1,
    }
    assert "<code>Corner Bakery</code>" in response.content.decode()


def test_a_wrong_workspace_name_deletes_nothing(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount
) -> None:
    logged_in(client, owner)
    for typed in ("", "corner bakery", "Corner Bakery!", "Acme"):
        response = client.post(reverse("workspace_delete"), {"confirm_name": typed})

        assert response.status_code == 200
        assert "Nothing was deleted" in response.content.decode()
    assert Workspace.objects.filter(pk=bakery.pk).exists()
    shop.refresh_from_db()
    assert shop.access_token_encrypted
    assert not LogEntry.objects.filter(additional_data__event="workspace erased").exists()


def test_owner_deletes_the_workspace_and_the_audit_trail_remains(
    client: Client,
    owner: User,
    bakery: Workspace,
    shop: InstagramAccount,
    other: InstagramAccount,
    make_user: Callable[..., User],
    make_workspace: Callable[..., Workspace],
    make_account: Callable[..., InstagramAccount],
) -> None:
    colleague = member_of(bakery, Role.MEMBER, make_user)
    Invitation.all_workspaces.create(workspace=bakery, email="later@bakery.example", invited_by=owner)
    neighbour = make_account(make_workspace("Neighbour"), username="neighbour")
    CommentFactory(account=neighbour)

    response = logged_in(client, owner).post(reverse("workspace_delete"), {"confirm_name": " Corner Bakery "})

    # The owner had no other workspace: on to creating one.
    assert response.status_code == 302 and response["Location"] == reverse("workspace_create")
    assert "active_workspace_id" not in client.session
    assert not Workspace.objects.filter(pk=bakery.pk).exists()
    for model in (InstagramAccount, Comment, Conversation, Message, Membership, Invitation):
        assert not model.all_workspaces.filter(workspace_id=bakery.pk).exists(), model
    assert User.objects.filter(pk=colleague.pk).exists()  # people keep their logins
    # Another workspace is untouched.
    neighbour.refresh_from_db()
    assert neighbour.access_token_encrypted and Comment.all_workspaces.filter(account=neighbour).exists()
    page = client.get(response["Location"]).content.decode()
    assert "Workspace “Corner Bakery” is deleted with everything in it" in page

    # The trail outlives the workspace: its own entry, and django-auditlog's entries of the deleted rows.
    entry = LogEntry.objects.get(additional_data__event="workspace erased")
    assert entry.content_type == ContentType.objects.get_for_model(Workspace)
    assert entry.object_id == bakery.pk and entry.object_repr == "Corner Bakery"
    assert entry.actor == owner and entry.actor_email == "owner@bakery.example"
    assert entry.action == LogEntry.Action.DELETE
    assert entry.additional_data["counts"]
    accounts_gone = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(InstagramAccount),
        object_id__in=[shop.pk, other.pk],
        action=LogEntry.Action.DELETE,
    )
    assert accounts_gone.count() >= 2
    assert {row.actor_email for row in accounts_gone} == {"owner@bakery.example"}
    memberships_gone = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Membership), action=LogEntry.Action.DELETE
    )
    assert memberships_gone.count() == 2


def test_after_deleting_a_workspace_the_owner_lands_in_another_of_theirs(
    client: Client, owner: User, bakery: Workspace, make_workspace: Callable[..., Workspace]
) -> None:
    second = make_workspace("Second Shop", owner=owner)
    logged_in(client, owner)
    session = client.session
    session[SESSION_KEY] = bakery.pk
    session.save()

    response = client.post(reverse("workspace_delete"), {"confirm_name": "Corner Bakery"})

    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.session[SESSION_KEY] == second.pk
    page = client.get(reverse("dashboard")).content.decode()
    assert "You are now in Second Shop" in page


# The audit trail.


def test_the_trail_follows_the_tenancy_models_without_their_secrets() -> None:
    for model in (Workspace, InstagramAccount, Membership, Invitation):
        assert auditlog.contains(model), model
    assert "access_token_encrypted" in audit_exclusions(InstagramAccount)
    assert "token" in audit_exclusions(Invitation)
    assert auditlog.get_model_fields(InstagramAccount)["exclude_fields"] == audit_exclusions(InstagramAccount)


def test_recording_a_row_reads_none_of_its_reverse_relations(
    make_account: Callable[..., InstagramAccount], bakery: Workspace
) -> None:
    """The gate trusts an account's cached ``usage``: the trail must not cache "none" there (nor query for it)."""
    account = make_account(bakery)

    assert LogEntry.objects.get_for_object(account).filter(action=LogEntry.Action.CREATE).exists()
    assert not InstagramAccount.usage.related.is_cached(account)
    assert "usage" in audit_exclusions(InstagramAccount) and "transitions" in audit_exclusions(InstagramAccount)


def test_no_audit_entry_holds_a_token(
    client: Client, owner: User, bakery: Workspace, shop: InstagramAccount, other: InstagramAccount
) -> None:
    encrypted = [shop.access_token_encrypted, other.access_token_encrypted]
    invitation = Invitation.all_workspaces.create(workspace=bakery, email="later@bakery.example", invited_by=owner)
    account_pause(account_id=shop.pk, actor=owner, reason="holiday")  # a state transition: an update entry
    logged_in(client, owner).post(disconnect_url(shop), {"history": "keep"})
    client.post(reverse("workspace_delete"), {"confirm_name": "Corner Bakery"})

    assert LogEntry.objects.count() >= 8  # creations, the pause, the disconnect, the deletions, the explicit ones
    text = entries_text()
    for secret in (TOKEN, "token-of-the-other-account", invitation.token, *encrypted):
        assert secret not in text
    assert "access_token_encrypted" not in text


def test_a_comment_from_webhook_to_reply_writes_no_audit_entry(
    sandbox_server: SandboxServer,
    product_in_process: str,
    workspace: Workspace,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The hot paths (webhook ingest, the inbound task, the dispatcher) save no audited model per event."""
    settings.INSTAGRAM_APP_SECRET = "app-secret-of-the-audit-test-7c1e"
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username="audit_bakery")
    comment_rule_save(
        rule=CommentRule(workspace=workspace, account=account, name="Prices", keywords="price", reply_templates="2.50!")
    )
    before = LogEntry.objects.count()
    assert before > 0  # the trail is live: connecting the account was recorded

    for number in range(3):
        comment = sandbox_comment_post(media=sandbox_account.media.get(), from_username=f"fan{number}", text="price?")
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_deliver(payload=comment_webhook_payload(comment=comment)).status == 200
    while dispatch_once(worker_id="audit-test"):
        pass

    # Three events ingested and planned; the gate let one reply go now (its pacing defers the others).
    assert Action.all_workspaces.count() == 3
    assert Action.all_workspaces.filter(state=ActionState.SUCCEEDED).count() >= 1
    assert LogEntry.objects.count() == before


def test_an_erasure_that_fails_part_way_leaves_an_entry_saying_so(
    owner: User, bakery: Workspace, shop: InstagramAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cut_short(**kwargs: Any) -> None:
        raise TimeoutError("the worker was stopped")

    monkeypatch.setattr(privacy.audit, "account_disconnect", cut_short)
    monkeypatch.setattr(privacy.audit, "workspace_erase", cut_short)

    with pytest.raises(TimeoutError):
        account_disconnect_audited(account=shop, actor=owner, delete_history=True)
    with pytest.raises(TimeoutError):
        workspace_erase_audited(workspace=bakery, actor=owner)

    disconnect = LogEntry.objects.get(additional_data__event="account disconnected")
    assert disconnect.additional_data["failed"] == "TimeoutError" and "counts" not in disconnect.additional_data
    assert disconnect.changes_text == "Disconnecting (history deleted) failed part-way: TimeoutError."
    erase = LogEntry.objects.get(additional_data__event="workspace erased")
    assert erase.additional_data["failed"] == "TimeoutError" and erase.actor_email == "owner@bakery.example"


def test_counts_in_plain_words() -> None:
    assert counts_in_words({"messages": 12, "comments": 1, "crm_deliveries": 1, "flow_runs": 0}) == (
        "12 messages, 1 comment, 1 CRM delivery"
    )
    assert counts_in_words({"inbound_events": 1, "accounts": 2}) == "1 inbound event, 2 accounts"
    assert counts_in_words({"tokens_destroyed": 1, "actions_denied": 3}) == (
        "1 access token destroyed, 3 planned actions cancelled"
    )
    assert counts_in_words({}) == ""


def test_operators_read_the_trail_in_the_admin_and_cannot_change_it(
    client: Client,
    owner: User,
    shop: InstagramAccount,
    make_user: Callable[..., User],
    admin_login: Callable[..., Any],
) -> None:
    logged_in(client, owner).post(disconnect_url(shop), {"history": "keep"})
    entry = LogEntry.objects.get(additional_data__event="account disconnected")
    operator = make_user("ops@instaforge.example")
    operator.is_staff = operator.is_superuser = True
    operator.save(update_fields=["is_staff", "is_superuser"])
    staff = Client()
    admin_login(staff, operator)

    listing = staff.get(reverse("admin:auditlog_logentry_changelist"))
    assert listing.status_code == 200
    assert isinstance(admin.site._registry[LogEntry], UnfoldModelAdmin)  # in Unfold's style, like every admin
    assert "Disconnected by owner@bakery.example, history kept" in listing.content.decode()
    detail = staff.get(reverse("admin:auditlog_logentry_change", args=[entry.pk]))
    assert detail.status_code == 200
    assert "account disconnected" in detail.content.decode()
    assert staff.post(reverse("admin:auditlog_logentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert staff.get(reverse("admin:auditlog_logentry_add")).status_code == 403
    assert LogEntry.objects.filter(pk=entry.pk).exists()
