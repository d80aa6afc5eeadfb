"""Ice breakers, end to end against the sandbox: a member sets them, the ledger sends them, a follower taps one."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Membership, Workspace
from accounts.services import account_access_token, account_connect_complete
from actions.dispatcher.loop import dispatch_once
from actions.dispatcher.recovery import actions_reconcile_unknown
from actions.models import Action, ActionState, ActionType
from instagram.client import InstagramClient
from messaging.ice_breakers import ice_breakers_save
from messaging.models import IceBreakerSet
from safety.services import gate_evaluate
from sandbox.models import SandboxAccount, SandboxCall
from sandbox.services import sandbox_account_create, sandbox_authorize
from sandbox.testing import SandboxServer, WebhookReceiver

QUESTIONS = ["What are your opening hours?", "Do you deliver?", "How much is a cake?"]


@pytest.fixture
def shop(sandbox_server: SandboxServer, workspace: Workspace) -> tuple[InstagramAccount, SandboxAccount]:
    """Connected through Instagram Login with the messaging permission, and still warming up (day 1)."""
    sandbox_account = sandbox_account_create(username="cake_shop")
    redirect_uri = "http://testserver/instagram/callback/"
    code = sandbox_authorize(
        account=sandbox_account,
        redirect_uri=redirect_uri,
        scopes=["instagram_business_basic", "instagram_business_manage_messages"],
    )
    account = account_connect_complete(workspace=workspace, code=code, redirect_uri=redirect_uri, actor=None)
    assert account.state == AccountState.WARMUP_DAY_1
    return account, sandbox_account


@pytest.fixture
def member(client: Client, workspace: Workspace) -> Client:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


def _profile_calls(method: str) -> int:
    return SandboxCall.objects.filter(method=method, path__endswith="/messenger_profile", status=200).count()


def _live(sandbox_account: SandboxAccount) -> list[dict[str, str]]:
    sandbox_account.refresh_from_db()
    defaults = [entry for entry in sandbox_account.ice_breakers if entry["locale"] == "default"]
    return defaults[0]["call_to_actions"] if defaults else []


def test_a_member_sets_ice_breakers_and_they_go_live_even_during_the_warm_up(
    member: Client, shop: tuple[InstagramAccount, SandboxAccount]
) -> None:
    account, sandbox_account = shop
    url = reverse("ice_breakers_edit", args=[account.pk])
    form = {f"question_{number}": question for number, question in enumerate(QUESTIONS, 1)}

    response = member.post(url, form)

    assert response.status_code == 302
    page = member.get(url).content.decode()
    assert "Sending to Instagram" in page  # planned, not yet sent
    dispatch_once(worker_id="test")
    action = Action.all_workspaces.get(action_type=ActionType.MESSENGER_PROFILE)
    assert action.state == ActionState.SUCCEEDED, action.last_reason
    assert "sends nothing to anyone" in action.decisions.get().reason  # no warm-up budget, no content limits
    assert [item["question"] for item in _live(sandbox_account)] == QUESTIONS
    assert [item["payload"] for item in _live(sandbox_account)] == ["ICEBREAKER_1", "ICEBREAKER_2", "ICEBREAKER_3"]
    page = member.get(url).content.decode()
    assert "Live on Instagram" in page and "Do you deliver?" in page
    assert "Live on Instagram" in member.get(reverse("automation")).content.decode()
    # Read back through the client as Instagram answers it.
    read = InstagramClient(access_token=account_access_token(account=account)).ice_breakers_get()
    assert read == [{"call_to_actions": _live(sandbox_account), "locale": "default"}]


def test_emptying_every_question_deletes_them_on_instagram(shop: tuple[InstagramAccount, SandboxAccount]) -> None:
    account, sandbox_account = shop
    ice_breakers_save(account=account, questions=QUESTIONS[:1], actor=None)
    dispatch_once(worker_id="test")
    assert _live(sandbox_account)

    ice_breakers_save(account=account, questions=["", "  "], actor=None)
    dispatch_once(worker_id="test")

    assert _live(sandbox_account) == []
    assert _profile_calls("DELETE") == 1
    assert Action.all_workspaces.filter(state=ActionState.SUCCEEDED).count() == 2


def test_only_the_newest_version_is_sent(shop: tuple[InstagramAccount, SandboxAccount]) -> None:
    account, sandbox_account = shop
    older = ice_breakers_save(account=account, questions=["Old question?"], actor=None)
    newer = ice_breakers_save(account=account, questions=["New question?"], actor=None)

    dispatch_once(worker_id="test")

    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.state, newer.state) == (ActionState.SUCCEEDED, ActionState.SUCCEEDED)
    assert "newer version" in older.result["skipped"]
    assert _profile_calls("POST") == 1
    assert [item["question"] for item in _live(sandbox_account)] == ["New question?"]


def test_an_unknown_outcome_is_reconciled_by_reading_instagram(shop: tuple[InstagramAccount, SandboxAccount]) -> None:
    account, sandbox_account = shop
    sent = ice_breakers_save(account=account, questions=QUESTIONS[:2], actor=None)
    dispatch_once(worker_id="test")
    # As if the answer had been lost after Instagram took the update.
    Action.all_workspaces.filter(pk=sent.pk).update(state=ActionState.UNKNOWN, lease_until=None)

    assert actions_reconcile_unknown(worker_id="test", now=timezone.now()) == 1
    sent.refresh_from_db()
    assert (sent.state, sent.last_reason) == (ActionState.SUCCEEDED, "reconciled: Instagram shows it was sent")
    assert _profile_calls("POST") == 1  # not sent again

    lost = ice_breakers_save(account=account, questions=["Never arrived?"], actor=None)
    Action.all_workspaces.filter(pk=lost.pk).update(
        state=ActionState.UNKNOWN, lease_until=None, started_at=timezone.now()
    )
    actions_reconcile_unknown(worker_id="test", now=timezone.now())
    lost.refresh_from_db()
    assert lost.state == ActionState.PLANNED  # Instagram does not have it: sent again
    dispatch_once(worker_id="test")
    assert [item["question"] for item in _live(sandbox_account)] == ["Never arrived?"]


def test_meta_limits_messenger_profile_updates_to_ten_in_ten_minutes(
    shop: tuple[InstagramAccount, SandboxAccount],
) -> None:
    account, _ = shop
    now = timezone.now()
    for number in range(10):
        Action.all_workspaces.create(
            workspace_id=account.workspace_id,
            account=account,
            action_type=ActionType.MESSENGER_PROFILE,
            idempotency_key=f"earlier-{number}",
            state=ActionState.SUCCEEDED,
            started_at=now - timedelta(minutes=9, seconds=-number),
        )
    action = ice_breakers_save(account=account, questions=["One more?"], actor=None)

    decision = gate_evaluate(action=action, account=account, now=now)

    assert decision.verdict == "defer"
    assert "Meta's Messenger Profile API limit: 10 of 10" in decision.reason
    assert decision.until is not None and decision.until > now


def test_the_form_refuses_repeated_questions(member: Client, shop: tuple[InstagramAccount, SandboxAccount]) -> None:
    account, _ = shop
    response = member.post(
        reverse("ice_breakers_edit", args=[account.pk]), {"question_1": "Prices?", "question_2": "prices?"}
    )
    assert response.status_code == 200
    assert "Each question must be different" in response.content.decode()
    assert not IceBreakerSet.all_workspaces.exists() and not Action.all_workspaces.exists()


def test_more_than_four_questions_are_refused(shop: tuple[InstagramAccount, SandboxAccount]) -> None:
    with pytest.raises(ValueError, match="at most 4"):
        ice_breakers_save(account=shop[0], questions=["a", "b", "c", "d", "e"], actor=None)


def test_a_follower_taps_an_ice_breaker_in_the_sandbox(
    sandbox_server: SandboxServer,
    shop: tuple[InstagramAccount, SandboxAccount],
    webhook_receiver: WebhookReceiver,
    transactional_db: None,
) -> None:
    account, sandbox_account = shop
    ice_breakers_save(account=account, questions=QUESTIONS, actor=None)
    dispatch_once(worker_id="test")
    page = requests.get(f"{sandbox_server.url}/u/{sandbox_account.username}/", timeout=10)
    assert 'data-testid="follower-ice-breaker"' in page.text and "Do you deliver?" in page.text

    requests.post(
        f"{sandbox_server.url}/u/{sandbox_account.username}/messages/",
        {"kind": "ice_breaker", "from_username": "hungry_fan", "index": "1"},
        timeout=10,
    )

    deadline = time.monotonic() + 10
    while not webhook_receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    item = json.loads(webhook_receiver.requests[0].body)["entry"][0]["messaging"][0]
    assert item["postback"]["title"] == "Do you deliver?"
    assert item["postback"]["payload"] == "ICEBREAKER_2"
