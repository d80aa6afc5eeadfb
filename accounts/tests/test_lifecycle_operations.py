"""Every operator (and member) lifecycle operation from every state: where the account ends, or a clear refusal.

Each scenario is built through the real transitions (a paused account that was
then suspended remembers both). Each operation runs through the code a person
uses: the admin's bulk actions (accounts and warm-ups, with the operator as
actor) and the member's pause/resume pages. A refusal changes nothing and says
why in a message; nothing raises (no 500).

In these tests the Instagram API is a refusing address, so an operator's
"reconnect with the stored token" fails its check and the account (back) in
ERROR keeps what it must return to; the successful reconnections run against
the sandbox in ``test_reconnecting_returns_to_the_state_before_the_error``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib import admin as django_admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import AccountState, InstagramAccount, SuspendedAccount, User, Workspace
from accounts.services import account_approve, account_resume, account_transition
from accounts.tests.test_tokens import connect
from sandbox.testing import SandboxServer
from warmup.models import WarmupPlan
from warmup.services import warmup_plan_start

S = AccountState
D3 = S.WARMUP_DAY_3
REFUSED = "refused"
NOT_OFFERED = "not offered"  # the operation's admin does not list this account (e.g. no warm-up plan)

# name: (the state the account starts in, the transitions that follow)
SCENARIOS: dict[str, tuple[str, list[str]]] = {
    "INACTIVE": (S.INACTIVE, []),
    "CONNECTING (first connection)": (S.INACTIVE, [S.CONNECTING]),
    **{f"WARMUP_DAY_{day}": (f"WARMUP_DAY_{day}", []) for day in range(1, 8)},
    "ACTIVE": (S.WARMUP_DAY_7, [S.ACTIVE]),
    "PAUSED on day 3": (D3, [S.PAUSED]),
    "PAUSED while active": (S.WARMUP_DAY_7, [S.ACTIVE, S.PAUSED]),
    "SUSPENDED on day 3": (D3, [S.SUSPENDED]),
    "SUSPENDED while active": (S.WARMUP_DAY_7, [S.ACTIVE, S.SUSPENDED]),
    "SUSPENDED while paused on day 3": (D3, [S.PAUSED, S.SUSPENDED]),
    "ERROR on day 3": (D3, [S.ERROR]),
    "ERROR while paused on day 3": (D3, [S.PAUSED, S.ERROR]),
    "ERROR while suspended, paused on day 3": (D3, [S.PAUSED, S.SUSPENDED, S.ERROR]),
    "CONNECTING again, paused on day 3 before the error": (D3, [S.PAUSED, S.ERROR, S.CONNECTING]),
}

OPERATIONS = [
    "admin: pause",
    "admin: resume",
    "admin: suspend",
    "admin: approve",
    "review queue: approve",
    "review queue: pause",
    "admin: reconnect",
    "warm-up: extend",
    "warm-up: restart",
    "warm-up: skip",
    "member: pause",
    "member: resume",
]


def _expected_table() -> dict[str, dict[str, str]]:
    """The resulting state of each operation from each scenario; anything not listed is refused."""
    acting = {
        "admin: pause": S.PAUSED,
        "admin: suspend": S.SUSPENDED,
        "member: pause": S.PAUSED,
    }
    table: dict[str, dict[str, str]] = {
        "INACTIVE": {
            "admin: reconnect": S.ERROR,  # tried: Instagram does not answer here, so the check fails
            "warm-up: extend": NOT_OFFERED,
            "warm-up: restart": NOT_OFFERED,
            "warm-up: skip": NOT_OFFERED,
        },
        "CONNECTING (first connection)": {
            "warm-up: extend": NOT_OFFERED,
            "warm-up: restart": NOT_OFFERED,
            "warm-up: skip": NOT_OFFERED,
        },
        "ACTIVE": {**acting, "warm-up: restart": S.WARMUP_DAY_1},
        "PAUSED on day 3": {
            "admin: resume": D3,
            "admin: suspend": S.SUSPENDED,
            "warm-up: extend": S.PAUSED,  # the day it will resume on is repeated once more
            "member: resume": D3,
        },
        "PAUSED while active": {"admin: resume": S.ACTIVE, "admin: suspend": S.SUSPENDED, "member: resume": S.ACTIVE},
        "SUSPENDED on day 3": {
            "admin: approve": D3,
            "review queue: approve": D3,
            "admin: pause": S.PAUSED,
            "review queue: pause": S.PAUSED,
            "warm-up: extend": S.SUSPENDED,
        },
        "SUSPENDED while active": {
            "admin: approve": S.ACTIVE,
            "review queue: approve": S.ACTIVE,
            "admin: pause": S.PAUSED,
            "review queue: pause": S.PAUSED,
        },
        "SUSPENDED while paused on day 3": {
            # Approving returns it to where it was: paused, not sending.
            "admin: approve": S.PAUSED,
            "review queue: approve": S.PAUSED,
            "admin: pause": S.PAUSED,
            "review queue: pause": S.PAUSED,
            "warm-up: extend": S.SUSPENDED,
        },
        "ERROR on day 3": {"admin: reconnect": S.ERROR},
        "ERROR while paused on day 3": {"admin: reconnect": S.ERROR},
        "ERROR while suspended, paused on day 3": {"admin: reconnect": S.ERROR},
        "CONNECTING again, paused on day 3 before the error": {
            # Ending the reconnection in a pause is where it was before the error.
            "admin: pause": S.PAUSED,
            "member: pause": S.PAUSED,
            "warm-up: extend": S.CONNECTING,
        },
    }
    for day in range(1, 8):
        table[f"WARMUP_DAY_{day}"] = {
            **acting,
            "warm-up: extend": f"WARMUP_DAY_{day}",
            "warm-up: restart": S.WARMUP_DAY_1,
            "warm-up: skip": S.ACTIVE,
        }
    return table


EXPECTED = _expected_table()
CASES = [
    (scenario, operation, EXPECTED[scenario].get(operation, REFUSED))
    for scenario in SCENARIOS
    for operation in OPERATIONS
]


def build(scenario: str, *, workspace: Workspace, make_account: Callable[..., InstagramAccount]) -> InstagramAccount:
    start, path = SCENARIOS[scenario]
    account = make_account(workspace, state=start)
    if start.startswith("WARMUP_DAY_"):
        warmup_plan_start(account_id=account.pk, cause="test")
    for state in path:
        account_transition(account_id=account.pk, to_state=state, cause="test")
    return InstagramAccount.all_workspaces.get(pk=account.pk)


def admin_request(operator: User, data: dict[str, str] | None = None) -> HttpRequest:
    request = RequestFactory().post("/admin/", data or {})
    request.user = operator
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def run_operation(operation: str, account: InstagramAccount, *, operator: User, member: Client) -> list[str]:
    """Run ``operation`` on ``account`` as a person would; the messages they are shown (None: not offered)."""
    reason = {"apply": "yes", "reason": "checked by the table test"}
    if operation.startswith("member: "):
        name = "account_pause" if operation == "member: pause" else "account_resume"
        response = member.post(reverse(name, args=[account.pk]), {"reason": ""})
        assert response.status_code == 302
        return [str(message) for message in get_messages(response.wsgi_request)]
    if operation.startswith("warm-up: "):
        plans = WarmupPlan.all_workspaces.filter(account=account)
        if not plans.exists():
            return [NOT_OFFERED]
        model_admin: Any = django_admin.site._registry[WarmupPlan]
        request = admin_request(operator, reason)
        getattr(model_admin, f"{operation.removeprefix('warm-up: ')}_plans")(request, plans)
        return [str(message) for message in get_messages(request)]
    if operation.startswith("review queue: "):
        model_admin = django_admin.site._registry[SuspendedAccount]
        request = admin_request(operator)
        queryset = model_admin.get_queryset(request).filter(pk=account.pk)
        if not queryset.exists():
            return [NOT_OFFERED]  # only suspended accounts are in the review queue
        method = {"approve": "approve_accounts", "pause": "pause_accounts"}[operation.removeprefix("review queue: ")]
        getattr(model_admin, method)(request, queryset)
        return [str(message) for message in get_messages(request)]
    model_admin = django_admin.site._registry[InstagramAccount]
    verb = operation.removeprefix("admin: ")
    request = admin_request(operator, reason if verb == "suspend" else None)
    getattr(model_admin, f"{verb}_accounts")(request, InstagramAccount.all_workspaces.filter(pk=account.pk))
    return [str(message) for message in get_messages(request)]


def hold_fields(account: InstagramAccount) -> tuple[str, str, str, str]:
    return (account.state, account.resume_state, account.state_before_suspension, account.state_before_error)


@pytest.mark.parametrize(("scenario", "operation", "expected"), CASES, ids=[f"{s} | {o}" for s, o, _ in CASES])
def test_every_operation_from_every_state(
    scenario: str,
    operation: str,
    expected: str,
    make_user,
    make_workspace,
    make_account,
    client: Client,
) -> None:
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    member = make_user()
    workspace = make_workspace(owner=member)
    client.force_login(member)
    account = build(scenario, workspace=workspace, make_account=make_account)
    before = hold_fields(account)

    shown = run_operation(operation, account, operator=operator, member=client)

    account.refresh_from_db()
    if expected == NOT_OFFERED:
        assert shown in ([NOT_OFFERED], [])
        assert hold_fields(account) == before
    elif expected == REFUSED:
        if shown == [NOT_OFFERED]:  # e.g. the review queue lists only suspended accounts
            assert hold_fields(account) == before
            return
        assert hold_fields(account) == before, "a refused operation changes nothing"
        assert len(shown) == 1 and str(account) in shown[0], shown  # one clear message that names the account
        assert "refused" in shown[0] or "cannot" in shown[0] or "not" in shown[0], shown
    else:
        assert account.state == expected, shown
        assert shown and not any(re.match(r"\d+ refused: ", text) for text in shown), shown
        if operation == "admin: reconnect" and before[0] == S.ERROR:
            # The check failed: back in ERROR, still knowing where to return once it works.
            assert hold_fields(account) == before


# --- returning, step by step ----------------------------------------------------------------------------


def test_approving_a_suspension_that_interrupted_a_pause_keeps_it_paused_then_resumes_on_its_day(
    make_user, workspace, make_account
) -> None:
    operator = make_user()
    account = build("SUSPENDED while paused on day 3", workspace=workspace, make_account=make_account)

    account_approve(account_id=account.pk, actor=operator, reason="looked fine")
    account.refresh_from_db()
    assert account.state == S.PAUSED  # not sending: the member had paused it
    assert account.resume_state == D3

    account_resume(account_id=account.pk, actor=None)
    account.refresh_from_db()
    assert account.state == D3  # its warm-up day, not day 1
    assert hold_fields(account) == (D3, "", "", "")


def test_a_member_cannot_take_a_suspended_account_out_of_review(
    client: Client, make_user, make_workspace, make_account
) -> None:
    member = make_user()
    workspace = make_workspace(owner=member)
    client.force_login(member)
    account = build("SUSPENDED on day 3", workspace=workspace, make_account=make_account)

    response = client.post(reverse("account_pause", args=[account.pk]))

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.state == S.SUSPENDED
    assert any("review" in str(message) for message in get_messages(response.wsgi_request))


@pytest.mark.parametrize(
    ("scenario", "after_reconnect", "then_approve", "then_resume"),
    [
        ("ERROR on day 3", D3, None, None),
        ("ERROR while paused on day 3", S.PAUSED, None, D3),
        ("ERROR while suspended, paused on day 3", S.SUSPENDED, S.PAUSED, D3),
    ],
)
@pytest.mark.parametrize("how", ["operator reconnects with the stored token", "member logs in with Instagram again"])
def test_reconnecting_returns_to_the_state_before_the_error(
    sandbox_server: SandboxServer,
    make_user,
    workspace: Workspace,
    scenario: str,
    after_reconnect: str,
    then_approve: str | None,
    then_resume: str | None,
    how: str,
) -> None:
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    account, _ = connect(workspace, "returning")  # a real token, accepted by the sandbox
    account_transition(account_id=account.pk, to_state=S.WARMUP_DAY_2, cause="test")
    account_transition(account_id=account.pk, to_state=D3, cause="test")
    for state in SCENARIOS[scenario][1]:
        account_transition(account_id=account.pk, to_state=state, cause="test")

    if how.startswith("operator"):
        model_admin: Any = django_admin.site._registry[InstagramAccount]
        request = admin_request(operator)
        model_admin.reconnect_accounts(request, InstagramAccount.all_workspaces.filter(pk=account.pk))
        assert [str(message) for message in get_messages(request)] == [f"1 reconnected: {account}."]
    else:
        connect(workspace, "returning")
    account.refresh_from_db()
    assert account.state == after_reconnect

    if then_approve:
        account_approve(account_id=account.pk, actor=operator)
        account.refresh_from_db()
        assert account.state == then_approve
    if then_resume:
        account_resume(account_id=account.pk, actor=None)
        account.refresh_from_db()
        assert account.state == then_resume


def test_logging_in_again_while_suspended_refreshes_the_token_and_stays_in_review(
    sandbox_server: SandboxServer, workspace: Workspace
) -> None:
    account, _ = connect(workspace, "inreview")
    account_transition(account_id=account.pk, to_state=S.SUSPENDED, cause="test")
    old_token = InstagramAccount.all_workspaces.get(pk=account.pk).access_token_encrypted

    connect(workspace, "inreview")

    account.refresh_from_db()
    assert account.state == S.SUSPENDED
    assert account.access_token_encrypted != old_token


@pytest.mark.parametrize(
    "path_to_review",
    [[S.SUSPENDED], [S.SUSPENDED, S.ERROR]],
    ids=["suspended", "in error while suspended"],
)
def test_disconnecting_and_connecting_again_returns_to_the_review_it_was_waiting_for(
    sandbox_server: SandboxServer, workspace: Workspace, path_to_review: list[str]
) -> None:
    account, _ = connect(workspace, "underreview")
    for state in path_to_review:
        account_transition(account_id=account.pk, to_state=state, cause="test")
    account_transition(account_id=account.pk, to_state=S.INACTIVE, cause="disconnected by its owner")

    connect(workspace, "underreview")

    account.refresh_from_db()
    assert account.state == S.SUSPENDED  # back in the review queue, not on a fresh warm-up


def test_disconnecting_an_acting_account_and_connecting_again_starts_afresh(
    sandbox_server: SandboxServer, workspace: Workspace
) -> None:
    account, _ = connect(workspace, "fresh")
    account_transition(account_id=account.pk, to_state=S.PAUSED, cause="test")
    account_transition(account_id=account.pk, to_state=S.INACTIVE, cause="disconnected by its owner")

    connect(workspace, "fresh")

    account.refresh_from_db()
    assert account.state == S.WARMUP_DAY_1
