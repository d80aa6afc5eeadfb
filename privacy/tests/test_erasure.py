"""Erasure end to end: data built through the product's paths (the sandbox's comments and DMs, the inbound
tasks, the dispatcher), then an account disconnected, an account's history, a workspace or a follower erased.

The check that catches a forgotten table is ``rows_naming``: it reads every text and JSON column of every
model the project installs (and every foreign key to an Instagram account) and lists the rows that still name
the id or username. Only Meta's side (the sandbox's own records) and the audit trail are left out, each with
its reason.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core import mail
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone
from PIL import Image
from pytest_django.fixtures import Settings

from accounts.models import AccountState, AccountTransition, InstagramAccount, Membership, Role, User, Workspace
from accounts.tenancy import workspace_scope
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionDecision, ActionState, ActionType
from actions.services import action_finish, action_plan
from alerts.models import Alert, AlertScope
from engagement.models import Comment, CommentRule
from engagement.services import comment_rule_save
from instagram.models import InboundEvent
from integrations.models import EventKind, WebhookDelivery, WebhookEndpoint
from integrations.services import endpoint_create
from messaging.automation import flow_save
from messaging.models import Conversation, Flow, FlowRun, FlowRunStatus, Message
from privacy import erasure
from privacy.erasure import ErasureReport, account_disconnect, follower_erase, workspace_erase
from publishing.models import PostMedia, PostState, ScheduledPost
from publishing.services import Upload, post_create
from sandbox.models import SandboxAccount, SandboxCall
from sandbox.services import follower_id, sandbox_comment_post, sandbox_follower_message
from sandbox.testing import SandboxServer
from tests.factories import MembershipFactory, UserFactory, account_connected_in_sandbox

SCOPES = (
    "instagram_business_basic",
    "instagram_business_manage_comments",
    "instagram_business_manage_messages",
    "instagram_business_content_publish",
)

# Left out of the scan, with the reason.
NOT_SCANNED_APPS = {
    "sandbox": "Meta's side: the emulator's own records of what Instagram holds, not InstaForge's",
}
NOT_SCANNED_MODELS = {
    "auditlog.logentry": "the audit trail records who deleted which account or workspace, as the issue asks",
}


def rows_naming(*needles: str, account_pk: int | None = None) -> list[str]:
    """Every row of every installed model (but those above) with a text or JSON value containing a needle,
    or (``account_pk``) a foreign key to that Instagram account, as ``app.Model #pk: where``."""
    # An id is named only as a whole number: account 4 is not named by "account:41".
    patterns = [re.compile(rf"(?<![0-9]){re.escape(needle)}(?![0-9])") for needle in needles if needle]
    found: list[str] = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label in NOT_SCANNED_APPS or meta.label_lower in NOT_SCANNED_MODELS or meta.proxy:
            continue
        fields = [
            field
            for field in meta.concrete_fields
            if isinstance(field, models.CharField | models.TextField | models.JSONField)
        ]
        if fields:
            for row in model._base_manager.values_list("pk", *[field.attname for field in fields]):
                for field, value in zip(fields, row[1:], strict=True):
                    if value is None:
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    for pattern in patterns:
                        if pattern.search(text):
                            found.append(f"{meta.label} #{row[0]}: {field.name} names {pattern.pattern!r}")
        if account_pk is not None:
            for reference in meta.concrete_fields:
                if reference.is_relation and reference.related_model is InstagramAccount:
                    rows = model._base_manager.filter(**{reference.attname: account_pk}).values_list("pk", flat=True)
                    found += [f"{meta.label} #{pk}: {reference.name} is the account" for pk in rows]
    return found


def jpeg() -> Upload:
    buffer = io.BytesIO()
    Image.new("RGB", (1080, 1080), (200, 120, 40)).save(buffer, format="JPEG")
    return Upload(name="photo.jpg", stream=io.BytesIO(buffer.getvalue()), size=len(buffer.getvalue()))


@dataclass
class Brand:
    """One connected account and the data a day of use leaves about it."""

    account: InstagramAccount
    sandbox: SandboxAccount
    post: ScheduledPost
    media_file: str


@pytest.fixture
def media_root(settings: Settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _comment(brand: Brand, username: str, text: str, capture: Any) -> None:
    with capture(execute=True):  # the sandbox's webhook after commit, then the product's inbound task
        sandbox_comment_post(media=brand.sandbox.media.get(), from_username=username, text=text)


def _dm(brand: Brand, username: str, text: str, capture: Any) -> None:
    with capture(execute=True):
        sandbox_follower_message(account=brand.sandbox, from_username=username, text=text)


def brand_build(workspace: Workspace, username: str, capture: Any) -> Brand:
    """An account connected through Instagram Login with a comment rule (public and private reply), a flow,
    a scheduled post with its file, a CRM endpoint in its workspace and an open alert about it."""
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username=username, scopes=SCOPES)
    comment_rule_save(
        rule=CommentRule(
            workspace=workspace,
            account=account,
            name="Prices",
            keywords="price",
            reply_templates="Hi {username}, it is 2.50!",
            private_reply_templates="Hi {username}, here is the menu.",
        )
    )
    with workspace_scope(workspace):
        flow_save(
            flow=Flow(workspace_id=workspace.pk, account=account, name="Order", keywords="order"),
            steps=[
                {"id": "hi", "type": "send_text", "text": "Happy to help, {username}!"},
                {"id": "what", "type": "ask", "text": "What would you like?", "variable": "wish"},
            ],
        )
    if not WebhookEndpoint.all_workspaces.filter(workspace=workspace).exists():
        # Port 9 (discard) refuses: deliveries stay in the log, which is what is erased.
        endpoint_create(workspace=workspace, url="http://127.0.0.1:9/crm", event_kinds=list(EventKind.values))
    post = post_create(
        account=account,
        kind="image",
        caption="Fresh bread",
        uploads=[jpeg()],
        scheduled_at=timezone.now() + timedelta(days=2),
    )
    Alert.all_workspaces.create(
        workspace=workspace,
        scope=AlertScope.WORKSPACE,
        condition="tokens_expiring",
        subject=f"account:{account.pk}",
        title=f"The Instagram connection of @{username} expires soon",
    )
    media_file = PostMedia.all_workspaces.get(post=post).file.name
    assert default_storage.exists(media_file)
    return Brand(account=account, sandbox=sandbox_account, post=post, media_file=media_file)


def dispatch_all() -> None:
    for _ in range(20):
        if not Action.all_workspaces.filter(state=ActionState.PLANNED, due_at__lte=timezone.now()).exists():
            return
        dispatch_once(worker_id="erasure-test")


@dataclass
class World:
    workspace: Workspace
    owner: User
    bakery: Brand  # the account erased
    cafe: Brand  # another account of the same workspace
    other_workspace: Workspace
    shop: Brand  # an account of another workspace


@pytest.fixture
def world(
    sandbox_server: SandboxServer,
    product_in_process: str,
    media_root: Path,
    make_user: Any,
    make_workspace: Any,
    django_capture_on_commit_callbacks: Any,
) -> Iterator[World]:
    """Three accounts in two workspaces; two followers comment and write to them, through the sandbox."""
    capture = django_capture_on_commit_callbacks
    owner = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=owner)
    MembershipFactory.create(
        workspace=workspace, user=UserFactory.create(email="admin@bakery.example"), role=Role.ADMIN
    )
    MembershipFactory.create(workspace=workspace, user=UserFactory.create(email="member@bakery.example"))
    other_workspace = make_workspace("Shop")
    bakery = brand_build(workspace, "erase_bakery", capture)
    cafe = brand_build(workspace, "keep_cafe", capture)
    shop = brand_build(other_workspace, "keep_shop", capture)
    for brand in (bakery, cafe, shop):
        _comment(brand, "hungry_fan", "What's the price?", capture)
        _comment(brand, "other_fan", "price please", capture)
        _dm(brand, "hungry_fan", "I want to order", capture)
        _dm(brand, "other_fan", "order please", capture)
    with capture(execute=True):
        dispatch_all()
    yield World(workspace, owner, bakery, cafe, other_workspace, shop)


def account_needles(brand: Brand) -> tuple[str, ...]:
    return (brand.account.ig_user_id, brand.account.username, f"account:{brand.account.pk}")


def test_the_world_names_what_is_erased(world: World) -> None:
    """The scan sees the data (so that its emptiness later means something)."""
    named = rows_naming(*account_needles(world.bakery), account_pk=world.bakery.account.pk)
    tables = {row.split(" #")[0] for row in named}
    assert {
        "accounts.InstagramAccount",
        "engagement.Comment",
        "messaging.Conversation",
        "messaging.Message",
        "actions.Action",
        "instagram.InboundEvent",
        "integrations.WebhookDelivery",
        "alerts.Alert",
        "publishing.ScheduledPost",
        "warmup.WarmupPlan",
    } <= tables, tables
    fan = follower_id("hungry_fan")
    tables = {row.split(" #")[0] for row in rows_naming(fan, "hungry_fan")}
    assert {
        "engagement.Comment",
        "engagement.CommentRuleHit",
        "messaging.Conversation",
        "actions.Action",
        "instagram.InboundEvent",
        "integrations.WebhookDelivery",
    } <= tables, tables
    assert FlowRun.all_workspaces.filter(status=FlowRunStatus.WAITING).count() == 6  # every DM started the flow


def test_disconnect_keeps_the_history_and_nothing_more_is_sent(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    account = world.bakery.account
    planned = action_plan(
        account=account,
        action_type=ActionType.DM,
        idempotency_key="late-dm",
        payload={"recipient_id": follower_id("hungry_fan"), "message": "Still there?"},
    )[0]
    comments_before = Comment.all_workspaces.filter(account=account).count()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        report = account_disconnect(
            account_id=account.pk,
            actor=None,
            cause="removed the app on Instagram",
            reason="Meta's deauthorize callback, access_token=IGAAsecret123",
            notify_owners=True,
        )

    account.refresh_from_db()
    assert account.state == AccountState.INACTIVE
    assert (account.access_token_encrypted, account.token_expires_at, account.token_refreshed_at) == ("", None, None)
    assert account.token_permissions == ""
    transition = AccountTransition.all_workspaces.filter(account=account).first()
    assert transition is not None and transition.to_state == AccountState.INACTIVE
    assert transition.cause == "removed the app on Instagram"
    assert "IGAAsecret123" not in transition.reason  # redacted by the lifecycle
    planned.refresh_from_db()
    assert planned.state == ActionState.DENIED and "disconnected" in planned.last_reason
    assert ActionDecision.all_workspaces.filter(action=planned, verdict="deny").exists()
    assert not FlowRun.all_workspaces.filter(conversation__account=account, status=FlowRunStatus.WAITING).exists()
    world.bakery.post.refresh_from_db()
    assert world.bakery.post.state == PostState.DRAFT
    assert report.counts["accounts_disconnected"] == 1 and report.counts["tokens_destroyed"] == 1
    assert report.counts["actions_denied"] >= 1 and report.counts["flow_runs_stopped"] == 2
    assert report.counts["posts_unscheduled"] == 1
    # The history is kept.
    assert Comment.all_workspaces.filter(account=account).count() == comments_before
    assert default_storage.exists(world.bakery.media_file)

    # The owners and admins are told what happened, what it means and how to connect again.
    (email,) = mail.outbox
    assert sorted(email.to) == ["admin@bakery.example", "owner@bakery.example"]
    assert "@erase_bakery" in email.subject
    assert "removed the app on Instagram" in email.body
    assert "nothing is sent from @erase_bakery" in email.body
    assert "/instagram/connect/" in email.body

    # The dispatcher does not act for it.
    posts_before = SandboxCall.objects.filter(method="POST").count()
    dispatch_once(worker_id="erasure-test")
    assert SandboxCall.objects.filter(method="POST").count() == posts_before
    planned.refresh_from_db()
    assert planned.state == ActionState.DENIED

    # Again: nothing changes, nobody is emailed twice.
    with django_capture_on_commit_callbacks(execute=True):
        again = account_disconnect(account_id=account.pk, actor=None, cause="again", notify_owners=True)
    assert again == ErasureReport()
    assert len(mail.outbox) == 1
    assert AccountTransition.all_workspaces.filter(account=account, to_state=AccountState.INACTIVE).count() == 1


def _others_snapshot(world: World) -> dict[str, int]:
    others = [world.cafe.account.pk, world.shop.account.pk]
    return {
        "comments": Comment.all_workspaces.filter(account_id__in=others).count(),
        "messages": Message.all_workspaces.filter(account_id__in=others).count(),
        "conversations": Conversation.all_workspaces.filter(account_id__in=others).count(),
        "actions": Action.all_workspaces.filter(account_id__in=others).count(),
        "events": InboundEvent.objects.filter(account_id__in=others).count(),
        "deliveries": len(
            [
                body
                for body in WebhookDelivery.all_workspaces.values_list("body", flat=True)
                if json.loads(body)["data"].get("account", {}).get("id")
                in (world.cafe.account.ig_user_id, world.shop.account.ig_user_id)
            ]
        ),
        "alerts": Alert.all_workspaces.filter(subject__in=[f"account:{pk}" for pk in others]).count(),
        "posts": ScheduledPost.all_workspaces.filter(account_id__in=others).count(),
    }


def test_disconnect_with_history_deletes_everything_about_the_account_and_nothing_else(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    account = world.bakery.account
    others = _others_snapshot(world)
    assert all(others.values()), others

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the rows' deletion commits
        report = account_disconnect(
            account_id=account.pk, actor=world.owner, cause="disconnected by a person", delete_history=True
        )

    assert rows_naming(*account_needles(world.bakery), account_pk=account.pk) == []
    assert not InstagramAccount.all_workspaces.filter(pk=account.pk).exists()
    assert not default_storage.exists(world.bakery.media_file)
    assert default_storage.exists(world.cafe.media_file) and default_storage.exists(world.shop.media_file)
    assert _others_snapshot(world) == others
    for kind in ("accounts", "comments", "messages", "conversations", "actions", "inbound_events", "crm_deliveries"):
        assert report.counts.get(kind, 0) > 0, (kind, report.counts)
    assert report.counts["media_files"] == 1 and report.counts["alerts"] == 1
    # The workspace and its people stay.
    assert Workspace.objects.filter(pk=world.workspace.pk).exists()
    assert Membership.all_workspaces.filter(workspace=world.workspace).count() == 3

    assert account_disconnect(account_id=account.pk, actor=None, cause="again", delete_history=True) == ErasureReport()


def test_a_deletion_that_died_half_way_is_finished_by_calling_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = world.bakery.account
    real = erasure._delete_batches
    calls = {"n": 0}

    def dies_after_a_few(*args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 12:
            raise RuntimeError("the worker was killed")
        real(*args, **kwargs)

    monkeypatch.setattr(erasure, "_delete_batches", dies_after_a_few)
    with pytest.raises(RuntimeError):
        account_disconnect(account_id=account.pk, actor=None, cause="data deletion request", delete_history=True)
    assert InstagramAccount.all_workspaces.filter(pk=account.pk).exists()  # the account row goes last
    monkeypatch.setattr(erasure, "_delete_batches", real)

    report = account_disconnect(account_id=account.pk, actor=None, cause="data deletion request", delete_history=True)
    assert report.counts["accounts"] == 1
    assert rows_naming(*account_needles(world.bakery), account_pk=account.pk) == []


def test_small_batches_delete_it_all(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erasure, "BATCH_SIZE", 2)
    account_disconnect(account_id=world.bakery.account.pk, actor=None, cause="test", delete_history=True)
    assert rows_naming(*account_needles(world.bakery), account_pk=world.bakery.account.pk) == []


def test_workspace_erase_deletes_the_workspace_and_its_accounts_and_keeps_the_users(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    shop = _shop_snapshot(world)
    assert all(shop.values()), shop
    users = User.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        report = workspace_erase(workspace_id=world.workspace.pk, actor=world.owner)

    assert not Workspace.objects.filter(pk=world.workspace.pk).exists()
    for brand in (world.bakery, world.cafe):
        assert rows_naming(*account_needles(brand), account_pk=brand.account.pk) == []
        assert not default_storage.exists(brand.media_file)
    assert default_storage.exists(world.shop.media_file)
    assert User.objects.count() == users
    assert not Membership.all_workspaces.filter(workspace_id=world.workspace.pk).exists()
    assert not WebhookEndpoint.all_workspaces.filter(workspace_id=world.workspace.pk).exists()
    assert not CommentRule.all_workspaces.filter(workspace_id=world.workspace.pk).exists()
    # Whatever names the workspace by id without a foreign key (shared counters, alerts) is gone too.
    assert rows_naming(f"workspace:{world.workspace.pk}") == []
    assert report.counts["accounts"] == 2 and report.counts["workspaces"] == 1
    assert report.counts["memberships"] == 3 and report.counts["crm_endpoints"] == 1
    # The other workspace is untouched.
    assert _shop_snapshot(world) == shop
    assert workspace_erase(workspace_id=world.workspace.pk, actor=world.owner) == ErasureReport()


def _shop_snapshot(world: World) -> dict[str, int]:
    pk = world.shop.account.pk
    return {
        "comments": Comment.all_workspaces.filter(account_id=pk).count(),
        "messages": Message.all_workspaces.filter(account_id=pk).count(),
        "conversations": Conversation.all_workspaces.filter(account_id=pk).count(),
        "actions": Action.all_workspaces.filter(account_id=pk).count(),
        "events": InboundEvent.objects.filter(account_id=pk).count(),
        "posts": ScheduledPost.all_workspaces.filter(account_id=pk).count(),
        "deliveries": WebhookDelivery.all_workspaces.filter(workspace=world.other_workspace).count(),
        "names": len(rows_naming(*account_needles(world.shop), account_pk=pk)),
    }


def test_follower_erase_deletes_them_everywhere_and_nobody_else(world: World) -> None:
    fan, other = follower_id("hungry_fan"), follower_id("other_fan")
    # An answer to them that a dispatcher holds (sending): left to finish, deleted by the next call.
    sending = action_plan(
        account=world.shop.account,
        action_type=ActionType.DM,
        idempotency_key="in-flight",
        payload={"recipient_id": fan, "message": "Your order, hungry_fan"},
    )[0]
    Action.all_workspaces.filter(pk=sending.pk).update(state=ActionState.SENDING)
    # One still planned: denied, never sent.
    planned = action_plan(
        account=world.cafe.account,
        action_type=ActionType.DM,
        idempotency_key="planned",
        payload={"recipient_id": fan, "message": "Anything else?"},
    )[0]
    other_rows = len(rows_naming(other, "other_fan"))
    accounts = {account.pk: account.ig_user_id for account in InstagramAccount.all_workspaces.all()}

    report = follower_erase(ig_user_id=fan)

    assert report.counts["actions_in_flight"] == 1 and report.counts["actions_denied"] >= 1
    assert not Action.all_workspaces.filter(pk=planned.pk).exists()
    assert {row.split(":")[0] for row in rows_naming(fan, "hungry_fan")} == {f"actions.Action #{sending.pk}"}
    for kind in ("comments", "conversations", "messages", "inbound_events", "crm_deliveries", "actions"):
        assert report.counts.get(kind, 0) > 0, (kind, report.counts)
    # The other follower and the accounts are untouched.
    assert len(rows_naming(other, "other_fan")) == other_rows
    assert {account.pk: account.ig_user_id for account in InstagramAccount.all_workspaces.all()} == accounts

    # The dispatcher finishes the one it held; the next call deletes it.
    action_finish(action_id=sending.pk, state=ActionState.SUCCEEDED, result={"message_id": "m"})
    assert follower_erase(ig_user_id=fan).counts == {"actions": 1}
    assert rows_naming(fan, "hungry_fan") == []
    assert follower_erase(ig_user_id=fan) == ErasureReport()


def test_follower_erase_with_an_accounts_id_never_touches_the_accounts_own_data(
    world: World, django_capture_on_commit_callbacks: Any
) -> None:
    brand = world.bakery
    # The account comments on its own post: a comment from its own id, in its own events.
    _comment(brand, brand.account.username, "Fresh bread at 7!", django_capture_on_commit_callbacks)
    own_comments = Comment.all_workspaces.filter(account=brand.account, from_id=brand.account.ig_user_id).count()
    assert own_comments >= 1
    events = InboundEvent.objects.filter(entry_id=brand.account.ig_user_id).count()
    before = rows_naming(*account_needles(brand), account_pk=brand.account.pk)

    follower_erase(ig_user_id=brand.account.ig_user_id)

    assert InstagramAccount.all_workspaces.filter(pk=brand.account.pk).exists()
    assert (
        Comment.all_workspaces.filter(account=brand.account, from_id=brand.account.ig_user_id).count() == own_comments
    )
    assert InboundEvent.objects.filter(entry_id=brand.account.ig_user_id).count() == events
    assert rows_naming(*account_needles(brand), account_pk=brand.account.pk) == before


def test_an_empty_id_erases_nothing(world: World) -> None:
    assert follower_erase(ig_user_id="") == ErasureReport()


def test_report_merged_adds_up_and_drops_zeros() -> None:
    merged = ErasureReport(counts={"messages": 2, "comments": 1}).merged(ErasureReport(counts={"messages": 3}))
    assert merged.counts == {"messages": 5, "comments": 1}
    assert ErasureReport().merged(ErasureReport(counts={"x": 0})).counts == {}


def test_a_missing_account_or_workspace_gives_an_empty_report(db: None) -> None:
    assert account_disconnect(account_id=999_999, actor=None, cause="x") == ErasureReport()
    assert workspace_erase(workspace_id=999_999, actor=None) == ErasureReport()
