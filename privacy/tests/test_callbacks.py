"""Meta's deauthorize and data deletion request callbacks, and the public deletion status page.

The documented examples are in ``fixtures/`` (sources in its README.md): the parsed ``signed_request`` is signed
with the suite's app secret and posted as Meta posts it (a form field ``signed_request``). End to end, the
sandbox's "Remove app" and "Delete my data" buttons send the callbacks to the product answered in this process
(``sandbox_server`` + ``product_in_process``); the product's tasks run inline when the test's on-commit
callbacks are run (``django_capture_on_commit_callbacks``), which is how "pending, then done" is observed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from auditlog.models import LogEntry
from django.conf import settings
from django.core import mail
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.models import AccountState, AccountTransition, InstagramAccount, Membership, Workspace
from engagement.models import Comment
from instagram.signatures import signed_request_build
from messaging.models import Conversation, Message
from observability.selectors import webhook_refusals_recent
from privacy import services
from privacy.erasure import ErasureReport
from privacy.models import DataDeletionRequest, DeletionState, DeletionSubject
from privacy.services import DEAUTHORIZE_CAUSE, DEAUTHORIZE_REASON, deletion_request_run, deletion_requests_retry
from sandbox.models import SandboxAccount, SandboxAppCallback, SandboxToken
from sandbox.services import follower_id
from sandbox.testing import SandboxServer
from tests.factories import account_connected_in_sandbox

FIXTURES = Path(__file__).parent / "fixtures"
DOCUMENTED_PAYLOAD = json.loads((FIXTURES / "data_deletion_signed_request_payload.json").read_text())
DOCUMENTED_ANSWER = json.loads((FIXTURES / "data_deletion_response.json").read_text())
DEAUTHORIZE = "/instagram/deauthorize/"
DATA_DELETION = "/instagram/data-deletion/"
CallbackPost = Callable[..., Any]


def signed(payload: dict[str, Any], secret: str | None = None) -> str:
    return signed_request_build(payload=payload, app_secret=settings.INSTAGRAM_APP_SECRET if secret is None else secret)


def for_user(user_id: str) -> dict[str, Any]:
    """The documented example's payload for another user."""
    return {**DOCUMENTED_PAYLOAD, "user_id": user_id}


def refusals(callback: str, result: str) -> float:
    labels = {"callback": callback, "result": result}
    return REGISTRY.get_sample_value("instaforge_meta_callbacks_total", labels) or 0.0


# --- the documented example -------------------------------------------------------------------------------


def test_the_documented_example_is_accepted_and_answered_in_the_documented_shape(db: None, client: Client) -> None:
    response = client.post(DATA_DELETION, {"signed_request": signed(DOCUMENTED_PAYLOAD)})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    answer = response.json()
    assert set(answer) == set(DOCUMENTED_ANSWER) == {"url", "confirmation_code"}
    deletion = DataDeletionRequest.objects.get()
    assert answer["confirmation_code"] == deletion.confirmation_code
    assert answer["confirmation_code"].isalnum() and len(answer["confirmation_code"]) == 20
    assert answer["url"] == f"{settings.SITE_URL}/instagram/data-deletion/{deletion.confirmation_code}/"
    assert deletion.ig_user_id == "218471"
    assert deletion.subject == DeletionSubject.FOLLOWER  # no account has this id
    assert deletion.state == DeletionState.PENDING


def test_the_documented_example_to_deauthorize_for_an_unknown_user_is_a_200_that_does_nothing(
    db: None, client: Client, make_account: Callable[..., InstagramAccount], workspace: Workspace
) -> None:
    account = make_account(workspace)

    response = client.post(DEAUTHORIZE, {"signed_request": signed(DOCUMENTED_PAYLOAD)})

    assert response.status_code == 200
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE and account.access_token_encrypted
    assert refusals("deauthorize", "unknown_user") >= 1


# --- refusals: no side effect ---------------------------------------------------------------------------


def _refused_bodies() -> list[tuple[str, dict[str, str], int]]:
    return [
        ("missing", {}, 400),
        ("empty", {"signed_request": ""}, 400),
        ("not-signed-request", {"signed_request": "hello"}, 400),
        ("not-base64url", {"signed_request": "a*b.c*d"}, 400),
        ("other-secret", {"signed_request": signed(DOCUMENTED_PAYLOAD, "not-our-app-secret")}, 403),
        ("wrong-algorithm", {"signed_request": signed({**DOCUMENTED_PAYLOAD, "algorithm": "HMAC-SHA1"})}, 400),
        ("no-user-id", {"signed_request": signed({"algorithm": "HMAC-SHA256", "issued_at": 1291836800})}, 400),
    ]


@pytest.mark.parametrize("url", [DEAUTHORIZE, DATA_DELETION], ids=["deauthorize", "data-deletion"])
@pytest.mark.parametrize("case", range(len(_refused_bodies())), ids=[case for case, _, _ in _refused_bodies()])
def test_a_request_that_is_not_metas_is_refused_and_changes_nothing(
    db: None,
    client: Client,
    make_account: Callable[..., InstagramAccount],
    workspace: Workspace,
    url: str,
    case: int,
    django_capture_on_commit_callbacks: Any,
) -> None:
    account = make_account(workspace, ig_user_id="218471")
    name, body, status = _refused_bodies()[case]
    # Forged bodies name the account (the documented payload's user_id is the account's here).
    before = refusals(
        "deauthorize" if url == DEAUTHORIZE else "data_deletion", "bad_signature" if status == 403 else "bad_request"
    )
    recent = webhook_refusals_recent(window=timedelta(minutes=10))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url, body)

    assert response.status_code == status, name
    assert settings.INSTAGRAM_APP_SECRET not in response.content.decode()
    assert not callbacks and not mail.outbox
    assert not DataDeletionRequest.objects.exists()
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE and account.access_token_encrypted
    assert not AccountTransition.all_workspaces.filter(account=account, to_state=AccountState.INACTIVE).exists()
    after = refusals(
        "deauthorize" if url == DEAUTHORIZE else "data_deletion", "bad_signature" if status == 403 else "bad_request"
    )
    assert after == before + 1
    assert webhook_refusals_recent(window=timedelta(minutes=10)) == recent + 1


@pytest.mark.parametrize("url", [DEAUTHORIZE, DATA_DELETION])
def test_only_post(db: None, client: Client, url: str) -> None:
    assert client.get(url).status_code == 405


# --- data deletion requests --------------------------------------------------------------------------------


def test_asked_again_while_pending_the_same_code_comes_back(db: None, client: Client) -> None:
    first = client.post(DATA_DELETION, {"signed_request": signed(for_user("1784000000001"))}).json()
    again = client.post(DATA_DELETION, {"signed_request": signed(for_user("1784000000001"))}).json()
    other = client.post(DATA_DELETION, {"signed_request": signed(for_user("1784000000002"))}).json()

    assert again == first
    assert other["confirmation_code"] != first["confirmation_code"]
    assert DataDeletionRequest.objects.count() == 2


def test_a_failed_deletion_stays_pending_with_a_redacted_error_and_the_schedule_finishes_it(
    db: None, monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    answer = client.post(DATA_DELETION, {"signed_request": signed(for_user("1784000000003"))}).json()
    deletion = DataDeletionRequest.objects.get()

    def failing(*, ig_user_id: str) -> ErasureReport:
        raise RuntimeError("database went away while holding access_token=IGAAsecretsecretsecret")

    monkeypatch.setattr(services, "follower_erase", failing)
    assert deletion_request_run(request_id=deletion.pk) == "failed"
    deletion.refresh_from_db()
    assert deletion.state == DeletionState.PENDING and deletion.attempts == 1
    assert "database went away" in deletion.error and "IGAAsecret" not in deletion.error
    assert "Pending" in client.get(f"/instagram/data-deletion/{answer['confirmation_code']}/").content.decode()

    monkeypatch.setattr(services, "follower_erase", lambda *, ig_user_id: ErasureReport(counts={"messages": 2}))
    assert deletion_requests_retry(now=timezone.now()) == 0  # too recent: its own task may still be running
    assert deletion_requests_retry(now=timezone.now() + timedelta(minutes=6)) == 1  # runs inline in the suite
    deletion.refresh_from_db()
    assert deletion.state == DeletionState.DONE and deletion.attempts == 2
    assert deletion.summary == {"messages": 2} and deletion.error == "" and deletion.ig_user_id == ""


def test_a_request_done_is_not_run_again(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    deletion = DataDeletionRequest.objects.create(confirmation_code="abc", state=DeletionState.DONE)
    monkeypatch.setattr(services, "follower_erase", lambda *, ig_user_id: pytest.fail("erased twice"))

    assert deletion_request_run(request_id=deletion.pk) == "nothing to do"


# --- the status page ---------------------------------------------------------------------------------------


def test_the_status_page_pending_done_and_unknown(db: None, client: Client, workspace: Workspace) -> None:
    pending = DataDeletionRequest.objects.create(confirmation_code="a1b2c3", ig_user_id="42")
    done = DataDeletionRequest.objects.create(
        confirmation_code="d4e5f6",
        state=DeletionState.DONE,
        completed_at=timezone.now(),
        summary={"messages": 12, "comments": 3, "inbound_events": 0},
    )

    pending_page = client.get("/instagram/data-deletion/a1b2c3/")
    done_page = client.get("/instagram/data-deletion/d4e5f6/")

    assert pending_page.status_code == 200 and done_page.status_code == 200
    assert 'data-state="pending"' in pending_page.content.decode()
    html = done_page.content.decode()
    assert 'data-state="done"' in html
    assert "Messages</td><td>12" in html and "Comments</td><td>3" in html and "Inbound events" not in html
    assert done.completed_at is not None and str(done.completed_at.year) in html
    for page in (pending_page, done_page):
        assert page["X-Robots-Tag"] == "noindex, nofollow"
        assert '<meta name="robots" content="noindex, nofollow">' in page.content.decode()
        assert workspace.name not in page.content.decode()
    assert pending.ig_user_id not in pending_page.content.decode().replace("a1b2c3", "")
    assert client.get("/instagram/data-deletion/nosuchcode/").status_code == 404


# --- end to end from the sandbox's buttons ------------------------------------------------------------------


def _connected(workspace: Workspace, username: str) -> tuple[InstagramAccount, SandboxAccount]:
    account, sandbox_account = account_connected_in_sandbox(workspace=workspace, username=username)
    assert account.ig_user_id == sandbox_account.user_id  # what webhooks name
    # What the sandbox's callbacks name, as Meta's "app-scoped id": another id, which the account also keeps.
    assert account.ig_scoped_id == sandbox_account.app_scoped_id != sandbox_account.user_id
    return account, sandbox_account


@pytest.mark.usefixtures("product_in_process")
def test_remove_app_in_the_sandbox_disconnects_the_account(
    sandbox_server: SandboxServer, workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    account, sandbox_account = _connected(workspace, "callback_bakery")
    owner = Membership.all_workspaces.get(workspace=workspace).user

    with django_capture_on_commit_callbacks(execute=True):
        page = requests.post(f"{sandbox_server.url}/u/callback_bakery/remove-app/", timeout=10)

    assert page.status_code == 200  # the account page, after the redirect
    callback = SandboxAppCallback.objects.get()
    assert callback.kind == SandboxAppCallback.Kind.DEAUTHORIZE and callback.status == 200, callback.error
    assert callback.user_id == sandbox_account.app_scoped_id
    assert 'data-kind="deauthorize"' in page.text
    # Instagram's side: the app's tokens no longer work.
    assert not SandboxToken.objects.filter(account=sandbox_account, revoked=False).exists()
    # InstaForge's side: disconnected with the reason, no token, owners told.
    account.refresh_from_db()
    assert account.state == AccountState.INACTIVE
    assert account.access_token_encrypted == "" and account.token_expires_at is None
    transition = AccountTransition.all_workspaces.filter(account=account).order_by("-at", "-id").first()
    assert transition is not None and transition.to_state == AccountState.INACTIVE
    assert transition.cause == DEAUTHORIZE_CAUSE and transition.reason == DEAUTHORIZE_REASON
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert "disconnected" in mail.outbox[0].subject and DEAUTHORIZE_CAUSE in mail.outbox[0].body

    # Meta calling again changes nothing and emails nobody.
    with django_capture_on_commit_callbacks(execute=True):
        requests.post(f"{sandbox_server.url}/u/callback_bakery/remove-app/", timeout=10)
    assert SandboxAppCallback.objects.latest("at", "id").status == 200
    assert len(mail.outbox) == 1
    assert AccountTransition.all_workspaces.filter(account=account, to_state=AccountState.INACTIVE).count() == 1


@pytest.mark.usefixtures("product_in_process")
def test_delete_my_data_in_the_sandbox_deletes_the_account_pending_then_done(
    sandbox_server: SandboxServer, workspace: Workspace, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    account, _ = _connected(workspace, "erased_bakery")
    with django_capture_on_commit_callbacks(execute=True):  # the follower's comment reaches the product
        requests.post(
            f"{sandbox_server.url}/u/erased_bakery/posts/{account_first_media(account)}/comments/",
            data={"from_username": "fan_one", "text": "hello"},
            timeout=10,
        )
    assert Comment.all_workspaces.filter(account=account).exists()

    with django_capture_on_commit_callbacks(execute=False) as deletion_task:
        requests.post(f"{sandbox_server.url}/u/erased_bakery/delete-my-data/", timeout=10)

    callback = SandboxAppCallback.objects.get()
    assert callback.status == 200, callback.error
    assert set(json.loads(callback.response)) == {"url", "confirmation_code"}
    deletion = DataDeletionRequest.objects.get()
    assert callback.confirmation_code == deletion.confirmation_code
    assert callback.status_url == f"{settings.SITE_URL}/instagram/data-deletion/{deletion.confirmation_code}/"
    assert deletion.subject == DeletionSubject.ACCOUNT
    status_path = f"/instagram/data-deletion/{deletion.confirmation_code}/"
    assert 'data-state="pending"' in client.get(status_path).content.decode()
    assert deletion.confirmation_code in requests.get(f"{sandbox_server.url}/u/erased_bakery/", timeout=10).text

    with django_capture_on_commit_callbacks(execute=True):  # the deletion task, enqueued on commit, runs
        for task in deletion_task:
            task()

    deletion.refresh_from_db()
    assert deletion.state == DeletionState.DONE and deletion.ig_user_id == ""
    assert deletion.summary.get("comments", 0) >= 1
    assert not InstagramAccount.all_workspaces.filter(pk=account.pk).exists()
    assert not Comment.all_workspaces.filter(account_id=account.pk).exists()
    html = client.get(status_path).content.decode()
    assert 'data-state="done"' in html and "Comments" in html
    # The audit trail keeps its entries about the account (created, its transitions, deleted), nameless now.
    entries = LogEntry.objects.filter(content_type__model="instagramaccount", object_id=account.pk)
    assert entries.count() >= 2
    for entry in entries:
        written = json.dumps([entry.object_repr, entry.changes, entry.changes_text, entry.additional_data])
        assert "erased_bakery" not in written and account.ig_user_id not in written, written


@pytest.mark.usefixtures("product_in_process")
def test_delete_my_data_as_a_follower_deletes_their_messages_and_comments(
    sandbox_server: SandboxServer, workspace: Workspace, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    account, _ = _connected(workspace, "dm_bakery")
    with django_capture_on_commit_callbacks(execute=True):  # the follower writes and comments; both reach the product
        requests.post(
            f"{sandbox_server.url}/u/dm_bakery/messages/", data={"from_username": "chatty", "text": "hi"}, timeout=10
        )
        requests.post(
            f"{sandbox_server.url}/u/dm_bakery/posts/{account_first_media(account)}/comments/",
            data={"from_username": "chatty", "text": "nice"},
            timeout=10,
        )
        requests.post(
            f"{sandbox_server.url}/u/dm_bakery/messages/", data={"from_username": "quiet", "text": "hey"}, timeout=10
        )
    chatty = follower_id("chatty")
    assert Message.all_workspaces.filter(conversation__participant_igsid=chatty).exists()
    assert Comment.all_workspaces.filter(from_id=chatty).exists()

    with django_capture_on_commit_callbacks(execute=False) as deletion_task:
        page = requests.post(
            f"{sandbox_server.url}/u/dm_bakery/delete-my-data/", data={"from_username": "chatty"}, timeout=10
        )

    callback = SandboxAppCallback.objects.get()
    assert callback.user_id == chatty and callback.status == 200, callback.error
    assert f'data-code="{callback.confirmation_code}"' in page.text  # the answer, on the sandbox's page
    deletion = DataDeletionRequest.objects.get()
    assert deletion.subject == DeletionSubject.FOLLOWER
    status_path = f"/instagram/data-deletion/{deletion.confirmation_code}/"
    assert 'data-state="pending"' in client.get(status_path).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        for task in deletion_task:
            task()

    deletion.refresh_from_db()
    assert deletion.state == DeletionState.DONE
    assert not Conversation.all_workspaces.filter(participant_igsid=chatty).exists()
    assert not Message.all_workspaces.filter(conversation__participant_igsid=chatty).exists()
    assert not Comment.all_workspaces.filter(from_id=chatty).exists()
    # The account and the other follower are untouched.
    account.refresh_from_db()
    assert account.state != AccountState.INACTIVE and account.access_token_encrypted
    assert Conversation.all_workspaces.filter(participant_igsid=follower_id("quiet")).exists()
    assert 'data-state="done"' in client.get(status_path).content.decode()


def account_first_media(account: InstagramAccount) -> str:
    """The id of the sandbox account's first post (every sandbox account is created with one)."""
    return SandboxAccount.objects.get(user_id=account.ig_user_id).media.values_list("media_id", flat=True)[0]


# --- over real sockets, with the sandbox's own server -------------------------------------------------------


@pytest.mark.usefixtures("product_in_process")
def test_remove_app_then_delete_my_data_with_the_live_sandbox(
    sandbox_live_server: SandboxServer, workspace: Workspace, client: Client
) -> None:
    """The sandbox on its own thread and socket: each request commits, the product's tasks and emails run at once."""
    account, sandbox_account = _connected(workspace, "live_bakery")

    removed = requests.post(f"{sandbox_live_server.url}/u/live_bakery/remove-app/", timeout=15)

    assert removed.status_code == 200 and 'data-kind="deauthorize"' in removed.text
    account.refresh_from_db()
    assert account.state == AccountState.INACTIVE and account.access_token_encrypted == ""
    transition = AccountTransition.all_workspaces.filter(account=account, to_state=AccountState.INACTIVE).get()
    assert transition.cause == DEAUTHORIZE_CAUSE and transition.reason == DEAUTHORIZE_REASON
    assert len(mail.outbox) == 1
    assert not SandboxToken.objects.filter(account=sandbox_account, revoked=False).exists()

    asked = requests.post(f"{sandbox_live_server.url}/u/live_bakery/delete-my-data/", timeout=15)

    callback = SandboxAppCallback.objects.filter(kind=SandboxAppCallback.Kind.DATA_DELETION).get()
    assert callback.status == 200 and callback.confirmation_code in asked.text
    assert set(json.loads(callback.response)) == {"url", "confirmation_code"}
    deletion = DataDeletionRequest.objects.get(confirmation_code=callback.confirmation_code)
    assert deletion.state == DeletionState.DONE and deletion.subject == DeletionSubject.ACCOUNT
    assert not InstagramAccount.all_workspaces.filter(pk=account.pk).exists()
    assert 'data-state="done"' in client.get(callback.status_url.removeprefix(settings.SITE_URL)).content.decode()


# --- the operators' admin -----------------------------------------------------------------------------------


def test_operators_see_the_requests_read_only(
    client: Client, make_user: Callable[..., Any], admin_login: Callable[..., None]
) -> None:
    operator = make_user("operator@instaforge.example")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    DataDeletionRequest.objects.create(confirmation_code="c0ffee", ig_user_id="42", attempts=2, error="Boom")
    DataDeletionRequest.objects.create(
        confirmation_code="decaf0", state=DeletionState.DONE, completed_at=timezone.now(), summary={"messages": 4}
    )
    admin_login(client, operator)

    page = client.get("/admin/privacy/datadeletionrequest/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "c0ffee" in html and "decaf0" in html and "Boom" in html
    assert client.get("/admin/privacy/datadeletionrequest/add/").status_code == 403
    done = DataDeletionRequest.objects.get(confirmation_code="decaf0")
    assert client.get(f"/admin/privacy/datadeletionrequest/{done.pk}/change/").status_code == 200
    client.post(f"/admin/privacy/datadeletionrequest/{done.pk}/change/", {"state": "pending"})
    assert DataDeletionRequest.objects.get(pk=done.pk).state == DeletionState.DONE


def test_one_pending_request_per_person_even_when_two_callbacks_race(db: None) -> None:
    first, created = services.deletion_request_open(ig_user_id="218471")
    assert created
    # A second callback that did not see the first (a race): the constraint refuses a second pending request.
    with pytest.raises(IntegrityError), transaction.atomic():
        DataDeletionRequest.objects.create(confirmation_code="another", ig_user_id="218471")
    again, created = services.deletion_request_open(ig_user_id="218471")
    assert (again.pk, created) == (first.pk, False)


@pytest.mark.parametrize("code", ["x" * 5000, "a%00b", "../../etc/passwd", "' OR 1=1 --"])
def test_a_hostile_confirmation_code_is_a_404(client: Client, db: None, code: str) -> None:
    assert client.get(f"/instagram/data-deletion/{code}/").status_code in (400, 404)
