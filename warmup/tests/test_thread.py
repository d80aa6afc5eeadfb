"""End to end over real HTTP: a member connects a new account through the sandbox's Instagram Login; it warms up.

Its comment replies wait for day 3 with the reason shown in the web app;
nothing is sent and nothing is dropped. An operator skips the warm-up in the
admin: the held-back reply is due at once and is sent exactly once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, User
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from conftest import log_into_admin
from sandbox.models import SandboxComment
from sandbox.services import sandbox_comment_post
from sandbox.testing import SandboxServer
from tests.test_comment_thread import account_media, connect_through_instagram_login, dispatch_until_idle
from warmup.models import EventKind, PlanStatus, WarmupEvent, WarmupPlan


def test_a_new_accounts_comment_replies_wait_for_the_warm_up_until_an_operator_skips_it(
    client: Client, make_user, make_workspace, sandbox_server: SandboxServer, live_server, settings
) -> None:
    settings.SANDBOX_WEBHOOK_URL = live_server.url + "/webhooks/instagram/"
    member = make_user("owner@bakery.example")
    make_workspace("Bakery", owner=member)
    client.force_login(member)

    account = connect_through_instagram_login(client, "new_bakery")
    assert account.state == AccountState.WARMUP_DAY_1
    plan = WarmupPlan.all_workspaces.get(account=account)
    assert plan.status == PlanStatus.RUNNING
    assert WarmupEvent.all_workspaces.get(plan=plan).reason == "connected as @new_bakery"
    client.post(
        reverse("rule_create", args=[account.pk]),
        {"name": "Prices", "keywords": "price", "reply_templates": "Hi {username}!", "priority": 1, "is_active": "on"},
    )

    comment = sandbox_comment_post(media=account_media(account), from_username="hungry_fan", text="price?")
    dispatch_once(worker_id="test-dispatcher")
    action = Action.all_workspaces.get()
    assert action.state == ActionState.PLANNED
    assert "warm-up day 1 (observation phase): comment replies start on day 3" in action.last_reason
    assert action.due_at > timezone.now() + timedelta(days=1)
    assert not SandboxComment.objects.filter(parent=comment, via_api=True).exists()
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "comment replies start on day 3" in page and 'data-testid="warmup-card"' in page

    operator_client = Client()
    log_into_admin(
        operator_client,
        User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123"),
    )
    skipped = operator_client.post(
        f"/admin/warmup/warmupplan/{plan.pk}/skip/", {"_form_submitted": "on", "reason": "known customer, checked"}
    )
    assert skipped.status_code == 302
    dispatch_until_idle()
    assert [reply.text for reply in SandboxComment.objects.filter(parent=comment, via_api=True)] == ["Hi @hungry_fan!"]
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    skip: Any = WarmupEvent.all_workspaces.get(kind=EventKind.SKIP)
    assert skip.actor.email == "operator@instaforge.example" and skip.reason == "known customer, checked"
