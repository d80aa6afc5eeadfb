"""The operators' admin: every page opens, lifecycle actions go through the services, secrets never show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, AccountTransition, InstagramAccount, Invitation, User, Workspace
from accounts.services import account_suspend
from actions.models import Action, ActionDecision, ActionState, ActionType, Verdict
from conftest import log_into_admin
from engagement.models import Comment, CommentOutcome, CommentRule
from instagram.models import InboundEvent
from sandbox import services as sandbox_services
from sandbox.models import SandboxCall, SandboxToken, SandboxWebhookDelivery
from sandbox.testing import SandboxServer

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response
else:
    from django.http import HttpResponse as Response

ACCOUNTS_URL = "/admin/accounts/instagramaccount/"
REVIEW_QUEUE_URL = "/admin/accounts/suspendedaccount/"
PLAINTEXT_TOKEN = "IGAAplaintext-token-that-must-never-show-1234567890"
OUR_APPS = {"accounts", "actions", "engagement", "instagram", "sandbox", "auth"}

MakeAccount = Callable[..., InstagramAccount]


@pytest.fixture
def operator(db: None) -> User:
    return User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")


@pytest.fixture
def operator_client(client: Client, operator: User) -> Client:
    log_into_admin(client, operator)
    return client


def messages_of(response: Response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def run_action(client: Client, url: str, action: str, accounts: list[InstagramAccount], **extra: str) -> Response:
    data: dict[str, Any] = {"action": action, "index": "0", ACTION_CHECKBOX_NAME: [account.pk for account in accounts]}
    data.update(extra)
    return client.post(url, data)


def suspended(
    make_account: MakeAccount, workspace: Workspace, *, reason: str = "too many replies in an hour"
) -> InstagramAccount:
    """An account suspended the way the safety engine suspends one: through the service, from an acting state."""
    account = make_account(workspace, state=AccountState.WARMUP_DAY_3)
    return account_suspend(account_id=account.pk, actor=None, cause="safety engine", reason=reason)


@pytest.fixture
def every_kind_of_row(workspace: Workspace, make_account: MakeAccount, operator: User) -> dict[str, models.Model]:
    """One row of each model the operators' admin shows, so every changelist and change page has content."""
    account = make_account(workspace, token=PLAINTEXT_TOKEN)
    review = suspended(make_account, workspace)
    action = Action.all_workspaces.create(
        workspace=workspace,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        payload={"comment_id": "17900000000000001", "message": "Thanks!"},
        idempotency_key="comment_reply:17900000000000001",
    )
    ActionDecision.all_workspaces.create(
        workspace=workspace, action=action, verdict=Verdict.ALLOW, reason="within limits"
    )
    event = InboundEvent.objects.create(
        dedupe_key="comments:1",
        object_type="instagram",
        field="comments",
        entry_id=account.ig_user_id,
        payload={"id": "17900000000000001", "text": "Price?"},
        workspace=workspace,
        account=account,
    )
    rule = CommentRule.all_workspaces.create(
        workspace=workspace, account=account, name="Price", keywords="price, cost", reply_templates="Sent you a DM!"
    )
    Comment.all_workspaces.create(
        workspace=workspace,
        account=account,
        ig_comment_id="17900000000000001",
        from_username="fan",
        text="Price?",
        inbound_event=event,
        matched_rule=rule,
        outcome=CommentOutcome.REPLY_PLANNED,
    )
    Invitation.all_workspaces.create(workspace=workspace, email="new@example.com", invited_by=operator)
    sandbox_account = sandbox_services.sandbox_account_create(username="acme.shop")
    SandboxToken.objects.create(
        token=PLAINTEXT_TOKEN,
        account=sandbox_account,
        kind=SandboxToken.Kind.LONG,
        expires_at=timezone.now() + timedelta(days=60),
    )
    sandbox_services.sandbox_call_record(
        method="GET",
        path="/v26.0/me",
        account=sandbox_account,
        params={"access_token": PLAINTEXT_TOKEN},
        status=200,
        response={"access_token": PLAINTEXT_TOKEN, "user_id": sandbox_account.user_id},
    )
    SandboxWebhookDelivery.objects.create(
        url="http://testserver/webhooks/instagram/", body='{"object": "instagram"}', signature="sha256=0"
    )
    sandbox_services.sandbox_authorize(
        account=sandbox_account,
        redirect_uri="http://testserver/instagram/callback/",
        scopes=["instagram_business_basic"],
    )
    media = sandbox_services.sandbox_media_create(account=sandbox_account, caption="New bread")
    sandbox_services.sandbox_comment_post(media=media, from_username="fan", text="Price?")
    Group.objects.create(name="Support")
    return {"account": account, "review": review, "action": action, "event": event}


def our_model_admins() -> list[type[models.Model]]:
    return sorted(
        (model for model in admin.site._registry if model._meta.app_label in OUR_APPS),
        key=lambda model: model._meta.label,
    )


@pytest.mark.parametrize("model", our_model_admins(), ids=lambda model: model._meta.label)
def test_changelist_and_change_page_open(
    operator_client: Client, every_kind_of_row: dict[str, Any], model: type[models.Model]
) -> None:
    opts = model._meta
    response = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200

    admin_of_model = admin.site._registry[model]
    row = admin_of_model.get_queryset(response.wsgi_request).first()
    assert row is not None, f"no {opts.label} row to open"
    response = operator_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk]))
    assert response.status_code == 200


def test_review_queue_lists_only_suspended_accounts(
    operator_client: Client, workspace: Workspace, make_account: MakeAccount
) -> None:
    waiting = suspended(make_account, workspace, reason="reply pattern looks automated")
    active = make_account(workspace, state=AccountState.ACTIVE)
    paused = make_account(workspace, state=AccountState.PAUSED)

    response = operator_client.get(REVIEW_QUEUE_URL)

    assert response.status_code == 200
    listed = list(response.context["cl"].result_list)
    assert [account.pk for account in listed] == [waiting.pk]
    html = response.content.decode()
    assert "reply pattern looks automated" in html
    assert "safety engine" in html  # the cause of the last transition
    assert str(active) not in html and str(paused) not in html


def test_pause_action_goes_through_the_service(
    operator_client: Client, operator: User, workspace: Workspace, make_account: MakeAccount
) -> None:
    first = make_account(workspace, state=AccountState.ACTIVE)
    second = make_account(workspace, state=AccountState.WARMUP_DAY_2)

    response = run_action(operator_client, ACCOUNTS_URL, "pause_accounts", [first, second])

    assert response.status_code == 302
    for account, was in ((first, AccountState.ACTIVE), (second, AccountState.WARMUP_DAY_2)):
        account.refresh_from_db()
        assert account.state == AccountState.PAUSED
        assert account.resume_state == was
        transition = AccountTransition.all_workspaces.get(account=account)
        assert (transition.from_state, transition.to_state, transition.actor) == (was, AccountState.PAUSED, operator)
    assert any(text.startswith("2 paused") for text in messages_of(response))


def test_approve_action_in_the_review_queue(
    operator_client: Client, operator: User, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = suspended(make_account, workspace)

    response = run_action(operator_client, REVIEW_QUEUE_URL, "approve_accounts", [account])

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.state == AccountState.WARMUP_DAY_3  # where it was before the suspension
    latest = AccountTransition.all_workspaces.filter(account=account).first()
    assert latest is not None
    assert (latest.from_state, latest.to_state, latest.actor, latest.cause) == (
        AccountState.SUSPENDED,
        AccountState.WARMUP_DAY_3,
        operator,
        "approved after review",
    )
    assert messages_of(response) == [f"1 approved: {account}."]
    assert operator_client.get(REVIEW_QUEUE_URL).context["cl"].result_count == 0


def test_forbidden_action_is_refused_and_changes_nothing(
    operator_client: Client, workspace: Workspace, make_account: MakeAccount
) -> None:
    broken = make_account(workspace, state=AccountState.ERROR, username="brokenbrand")
    healthy = make_account(workspace, state=AccountState.ACTIVE)

    response = run_action(operator_client, ACCOUNTS_URL, "pause_accounts", [broken, healthy])

    broken.refresh_from_db()
    assert broken.state == AccountState.ERROR
    assert not AccountTransition.all_workspaces.filter(account=broken).exists()
    healthy.refresh_from_db()
    assert healthy.state == AccountState.PAUSED
    assert messages_of(response) == [
        f"1 paused: {healthy}.",
        "1 refused: @brokenbrand cannot go from ERROR to PAUSED.",
    ]


def test_approve_of_an_account_not_in_review_is_refused(
    operator_client: Client, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE, username="calm")

    response = run_action(operator_client, ACCOUNTS_URL, "approve_accounts", [account])

    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    assert messages_of(response) == ["1 refused: @calm is not waiting for review."]


def test_suspend_asks_for_a_reason_then_suspends(
    operator_client: Client, operator: User, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)

    page = run_action(operator_client, ACCOUNTS_URL, "suspend_accounts", [account])
    assert page.status_code == 200
    assert b'data-testid="suspend-confirmation"' in page.content
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE  # nothing happens before the reason is given

    without_reason = operator_client.post(
        ACCOUNTS_URL, {"action": "suspend_accounts", ACTION_CHECKBOX_NAME: [account.pk], "apply": "yes", "reason": ""}
    )
    assert without_reason.status_code == 200  # the page again, with the error
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE

    done = operator_client.post(
        ACCOUNTS_URL,
        {
            "action": "suspend_accounts",
            ACTION_CHECKBOX_NAME: [account.pk],
            "apply": "yes",
            "reason": "customer complaint",
        },
    )
    assert done.status_code == 302
    account.refresh_from_db()
    assert (account.state, account.state_reason) == (AccountState.SUSPENDED, "customer complaint")
    transition = AccountTransition.all_workspaces.get(account=account)
    assert (transition.actor, transition.reason) == (operator, "customer complaint")


def test_change_page_buttons_follow_the_state_and_post_through_the_service(
    operator_client: Client, operator: User, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    change_url = f"{ACCOUNTS_URL}{account.pk}/change/"

    page = operator_client.get(change_url).content.decode()
    assert f"{ACCOUNTS_URL}{account.pk}/pause/" in page
    assert f"{ACCOUNTS_URL}{account.pk}/approve/" not in page  # only a suspended account can be approved

    response = operator_client.post(
        f"{ACCOUNTS_URL}{account.pk}/pause/",
        {"_form_submitted": "on", "reason": "client asked"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == change_url
    account.refresh_from_db()
    assert (account.state, account.state_reason) == (AccountState.PAUSED, "client asked")
    assert AccountTransition.all_workspaces.get(account=account).actor == operator


def test_approve_button_in_the_review_queue_returns_to_the_queue(
    operator_client: Client, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = suspended(make_account, workspace)

    response = operator_client.post(f"{REVIEW_QUEUE_URL}{account.pk}/approve/", {"_form_submitted": "on"})

    assert response.status_code == 302
    assert response["Location"] == REVIEW_QUEUE_URL
    account.refresh_from_db()
    assert account.state == AccountState.WARMUP_DAY_3


@pytest.mark.django_db(transaction=True)
def test_reconnect_checks_the_stored_token_with_instagram(
    sandbox_server: SandboxServer,
    client: Client,
    make_user: Callable[..., User],
    make_workspace: Callable[..., Workspace],
    make_account: MakeAccount,
) -> None:
    operator = User.objects.create_superuser(email="operator@instaforge.example", password="a-Strong-pass-123")
    log_into_admin(client, operator)
    workspace = make_workspace()
    sandbox_account = sandbox_services.sandbox_account_create(username="acme.shop")
    token = SandboxToken.objects.create(
        token="IGAA-sandbox-token-for-reconnect",
        account=sandbox_account,
        kind=SandboxToken.Kind.LONG,
        expires_at=timezone.now() + timedelta(days=60),
    )
    working = make_account(workspace, state=AccountState.ERROR, token=token.token, resume_state=AccountState.ACTIVE)
    revoked = make_account(
        workspace, state=AccountState.ERROR, token="IGAA-a-token-instagram-does-not-know", username="gone"
    )

    response = run_action(client, ACCOUNTS_URL, "reconnect_accounts", [working, revoked])

    working.refresh_from_db()
    revoked.refresh_from_db()
    assert working.state == AccountState.ACTIVE
    assert revoked.state == AccountState.ERROR
    assert set(AccountTransition.all_workspaces.filter(account=working).values_list("actor", flat=True)) == {
        operator.pk
    }
    texts = messages_of(response)
    assert texts[0] == f"1 reconnected: {working}."
    assert texts[1].startswith("1 failed: @gone: Instagram did not accept the stored token")


def test_no_admin_page_shows_a_token(operator_client: Client, every_kind_of_row: dict[str, Any]) -> None:
    account = every_kind_of_row["account"]
    review = every_kind_of_row["review"]
    ciphertext = account.access_token_encrypted
    assert ciphertext and PLAINTEXT_TOKEN not in ciphertext
    urls = [
        ACCOUNTS_URL,
        f"{ACCOUNTS_URL}{account.pk}/change/",
        f"{ACCOUNTS_URL}{account.pk}/history/",
        f"{ACCOUNTS_URL}{account.pk}/delete/",
        f"{ACCOUNTS_URL}{account.pk}/pause/",
        f"{ACCOUNTS_URL}?q={account.username}",
        REVIEW_QUEUE_URL,
        f"{REVIEW_QUEUE_URL}{review.pk}/change/",
        f"/admin/accounts/workspace/{account.workspace_id}/change/",
        "/admin/actions/action/",
        f"/admin/actions/action/{every_kind_of_row['action'].pk}/change/",
        f"/admin/instagram/inboundevent/{every_kind_of_row['event'].pk}/change/",
        "/admin/sandbox/sandboxtoken/",
        f"/admin/sandbox/sandboxtoken/{SandboxToken.objects.get().pk}/change/",
        "/admin/sandbox/sandboxcall/",
        f"/admin/sandbox/sandboxcall/{SandboxCall.objects.get().pk}/change/",
    ]
    pages: dict[str, Response] = {url: operator_client.get(url) for url in urls}
    pages["suspend confirmation"] = run_action(operator_client, ACCOUNTS_URL, "suspend_accounts", [account, review])

    for name, response in pages.items():
        assert response.status_code == 200, name
        html = response.content.decode()
        assert ciphertext not in html, name
        assert ciphertext[:24] not in html, name
        assert PLAINTEXT_TOKEN not in html, name


def test_account_changelist_query_count_is_bounded(
    operator_client: Client,
    make_workspace: Callable[..., Workspace],
    make_account: MakeAccount,
    django_assert_max_num_queries: Any,
) -> None:
    for number in range(5):
        workspace = make_workspace(f"Agency {number}")
        for _ in range(6):
            make_account(workspace, token_expires_at=timezone.now() + timedelta(days=30))

    with django_assert_max_num_queries(8):  # session, user, membership, count, page: not one per row
        response = operator_client.get(ACCOUNTS_URL)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30


def test_the_ledger_is_read_only(operator_client: Client, every_kind_of_row: dict[str, Any]) -> None:
    action = every_kind_of_row["action"]
    assert operator_client.get("/admin/actions/action/add/").status_code == 403

    response = operator_client.post(f"/admin/actions/action/{action.pk}/change/", {"state": ActionState.SUCCEEDED})
    assert response.status_code == 403
    action.refresh_from_db()
    assert action.state == ActionState.PLANNED

    staff = User.objects.create_user(email="staff@instaforge.example", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_action", "delete_action"]))
    staff_client = Client()
    log_into_admin(staff_client, staff)
    assert staff_client.get(f"/admin/actions/action/{action.pk}/change/").status_code == 200
    assert staff_client.get(f"/admin/actions/action/{action.pk}/delete/").status_code == 403  # only superusers delete
    assert operator_client.get(f"/admin/actions/action/{action.pk}/delete/").status_code == 200


def test_account_page_links_to_its_ledger_and_filters_search_across_workspaces(
    operator_client: Client,
    every_kind_of_row: dict[str, Any],
    make_workspace: Callable[..., Workspace],
    make_account: MakeAccount,
) -> None:
    account = every_kind_of_row["account"]
    other = make_account(make_workspace("Other agency"), username="elsewhere")
    ledger_of_account = f"/admin/actions/action/?account__id__exact={account.pk}"

    assert ledger_of_account in operator_client.get(f"{ACCOUNTS_URL}{account.pk}/change/").content.decode()
    listed = operator_client.get(ledger_of_account).context["cl"].result_list
    assert [action.pk for action in listed] == [every_kind_of_row["action"].pk]
    assert operator_client.get(f"/admin/actions/action/?account__id__exact={other.pk}").context["cl"].result_count == 0

    found = operator_client.get(
        "/admin/autocomplete/",
        {"app_label": "actions", "model_name": "action", "field_name": "account", "term": "else"},
    )
    assert found.status_code == 200
    assert [result["text"] for result in found.json()["results"]] == ["@elsewhere"]


def test_operator_edits_only_the_time_zone(
    operator_client: Client, workspace: Workspace, make_account: MakeAccount
) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    url = f"{ACCOUNTS_URL}{account.pk}/change/"
    inline = {"transitions-TOTAL_FORMS": "0", "transitions-INITIAL_FORMS": "0"}

    refused = operator_client.post(url, {"time_zone": "Mars/Olympus", "state": AccountState.PAUSED, **inline})
    assert refused.status_code == 200 and "Not a known IANA time zone" in refused.content.decode()

    saved = operator_client.post(url, {"time_zone": "Europe/Paris", "state": AccountState.PAUSED, **inline})
    assert saved.status_code == 302
    account.refresh_from_db()
    assert (account.time_zone, account.state) == ("Europe/Paris", AccountState.ACTIVE)


def test_operator_adds_a_user_by_email(operator_client: Client) -> None:
    response = operator_client.post(
        "/admin/accounts/user/add/",
        {"email": "New.Person@Example.com", "password1": "a-Strong-pass-123", "password2": "a-Strong-pass-123"},
    )

    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.check_password("a-Strong-pass-123")
