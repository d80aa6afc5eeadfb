"""The Safety pages: effective limits with their source, overrides and kill switch by owners/admins, audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AccountState, Membership, Role
from safety.models import SafetyChange, SafetyOverride


@pytest.fixture
def owner(make_user):
    return make_user("owner@example.com")


@pytest.fixture
def setup(owner, make_workspace, make_account):
    workspace = make_workspace("Shop", owner=owner)
    account = make_account(workspace, state=AccountState.ACTIVE)
    return workspace, account


def test_the_account_page_shows_each_effective_value_and_its_source(client: Client, owner, setup) -> None:
    workspace, account = setup
    SafetyOverride.all_workspaces.create(workspace=workspace, values={"cooldowns.dm": 300})
    client.force_login(owner)
    page = client.get(reverse("account_safety", args=[account.pk])).content.decode()
    assert "Pause between two direct messages" in page and "5 min" in page and "Workspace override" in page
    assert "Platform default" in page
    assert client.get(reverse("workspace_safety")).status_code == 200


def test_an_owner_sets_an_override_and_it_is_audited(client: Client, owner, setup) -> None:
    _, account = setup
    client.force_login(owner)
    url = reverse("account_safety", args=[account.pk])
    response = client.post(url, {"form": "limits", "per_account.max_actions_per_hour": "12"})
    assert response.status_code == 302
    row = SafetyOverride.all_workspaces.get(account=account)
    assert row.values == {"per_account.max_actions_per_hour": 12}
    change = SafetyChange.all_workspaces.get()
    assert (change.setting, change.old_value, change.new_value, change.actor) == (
        "per_account.max_actions_per_hour",
        "",
        "12",
        owner,
    )


def test_a_value_above_a_meta_ceiling_is_refused_with_a_clear_message(client: Client, owner, setup) -> None:
    _, account = setup
    client.force_login(owner)
    response = client.post(
        reverse("account_safety", args=[account.pk]), {"form": "limits", "hourly_limits.private_replies": "751"}
    )
    assert response.status_code == 200
    assert "“Private replies to commenters per hour” cannot be above 750" in response.content.decode()
    assert not SafetyChange.all_workspaces.exists()


def test_the_kill_switch_of_a_workspace(client: Client, owner, setup) -> None:
    workspace, _ = setup
    client.force_login(owner)
    response = client.post(reverse("workspace_safety"), {"form": "kill_switch", "stopped": "on", "reason": "launch"})
    assert response.status_code == 302
    row = SafetyOverride.all_workspaces.get(workspace=workspace, account=None)
    assert row.sending_stopped and row.stopped_reason == "launch"
    assert "Sending is stopped here" in client.get(reverse("workspace_safety")).content.decode()


def test_a_member_sees_but_cannot_change(client: Client, make_user, setup) -> None:
    workspace, account = setup
    member = make_user("member@example.com")
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    url = reverse("account_safety", args=[account.pk])
    assert client.get(url).status_code == 200
    assert client.post(url, {"form": "kill_switch", "stopped": "on"}).status_code == 403
    assert not SafetyOverride.all_workspaces.exists()


def test_the_account_page_explains_its_risk_and_what_the_engine_saw(
    client: Client, owner, setup, django_assert_max_num_queries
) -> None:
    from actions.services import action_plan
    from safety.models import SafetyEventKind
    from safety.services import safety_event_record

    workspace, account = setup
    client.force_login(owner)
    url = reverse("account_safety", args=[account.pk])
    page = client.get(url).content.decode()
    assert "0/100 · normal" in page and "No risk signals in the last 24 hours." in page
    assert "Nothing yet" in page

    action, _ = action_plan(
        account=account, action_type="comment_reply", idempotency_key="k", payload={"comment_id": "c", "message": "x"}
    )
    safety_event_record(
        account_id=account.pk,
        workspace_id=workspace.pk,
        kind=SafetyEventKind.RATE_LIMIT,
        code=17,
        detail="rate limited (code 17): (#17) User request limit reached",
        action=action,
    )
    with django_assert_max_num_queries(20):
        page = client.get(url).content.decode()
    assert "25/100 · slowed down" in page
    assert "1 rate limit in 24 h (code 17: 1)" in page and "+25" in page
    assert "limits at 50 %" in page
    assert "rate limited (code 17)" in page and f"action #{action.pk}" in page


def test_another_workspaces_account_safety_page_is_not_found(client: Client, make_user, make_workspace, setup) -> None:
    _, account = setup
    stranger = make_user("stranger@example.com")
    make_workspace("Other", owner=stranger)
    client.force_login(stranger)
    assert client.get(reverse("account_safety", args=[account.pk])).status_code == 404
