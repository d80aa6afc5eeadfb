"""Operators: the global kill switch and overrides in the admin, through the audited services."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from accounts.models import User
from conftest import log_into_admin
from safety.models import GlobalKillSwitch, GlobalKillSwitchChange, SafetyChange, SafetyOverride


def operator(client: Client) -> User:
    user = User.objects.create_superuser(email="op@example.com", password="a-Strong-pass-123")
    log_into_admin(client, user)
    return user


def test_an_operator_stops_and_resumes_all_sending(client: Client, db: None) -> None:
    user = operator(client)
    url = reverse("admin:safety_globalkillswitch_changelist")
    assert client.get(url).status_code == 200
    client.post(url, {"action": "stop_sending", "_selected_action": ["1"]})
    assert GlobalKillSwitch.objects.get(pk=1).sending_stopped
    client.post(url, {"action": "resume_sending", "_selected_action": ["1"]})
    assert not GlobalKillSwitch.objects.get(pk=1).sending_stopped
    assert [(c.sending_stopped, c.actor) for c in GlobalKillSwitchChange.objects.order_by("id")] == [
        (True, user),
        (False, user),
    ]


def test_an_operator_override_is_validated_and_audited(client: Client, workspace) -> None:
    user = operator(client)
    url = reverse("admin:safety_safetyoverride_add")
    data = {"workspace": workspace.pk, "values": '{"cooldowns.dm": 90}', "stopped_reason": ""}
    assert client.post(url, data).status_code == 302
    assert SafetyOverride.all_workspaces.get(workspace=workspace, account=None).values == {"cooldowns.dm": 90}
    assert SafetyChange.all_workspaces.get().actor == user
    refused = {"workspace": workspace.pk, "values": '{"hourly_limits.private_replies": 5000}', "stopped_reason": ""}
    row = SafetyOverride.all_workspaces.get()
    response = client.post(reverse("admin:safety_safetyoverride_change", args=[row.pk]), refused)
    assert "hourly_limits.private_replies cannot be above 750" in response.content.decode()
    row.refresh_from_db()
    assert row.values == {"cooldowns.dm": 90}
    for name in ("safetychange", "safetycounter", "globalkillswitchchange", "safetyoverride"):
        assert client.get(reverse(f"admin:safety_{name}_changelist")).status_code == 200


def test_the_review_queue_shows_the_evidence_of_a_suspension(client: Client, make_account, workspace) -> None:
    from accounts.models import AccountState
    from actions.services import action_plan
    from instagram.errors import PolicyBlockedError
    from safety.models import SafetyEvent, SafetyEventKind
    from safety.services import action_error_observe

    account = make_account(workspace, state=AccountState.ACTIVE)
    action, _ = action_plan(
        account=account, action_type="comment_reply", idempotency_key="k", payload={"comment_id": "c", "message": "Hi"}
    )
    action_error_observe(action=action, error=PolicyBlockedError(message="(#368) deemed abusive", code=368))
    evidence = SafetyEvent.all_workspaces.get(kind=SafetyEventKind.SUSPENSION)
    operator(client)
    queue = client.get(reverse("admin:accounts_suspendedaccount_changelist")).content.decode()
    assert "Instagram blocked the action for policy reasons (code 368)" in queue
    assert reverse("admin:safety_safetyevent_change", args=[evidence.pk]) in queue
    detail = client.get(reverse("admin:safety_safetyevent_change", args=[evidence.pk])).content.decode()
    assert "deemed abusive" in detail and "policy_blocks" in detail and f"&quot;id&quot;: {action.pk}" in detail
