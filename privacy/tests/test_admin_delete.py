"""An operator deleting an account or a workspace in the admin goes through the erasure, never a bare cascade."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client

from accounts.models import InstagramAccount, User, Workspace
from conftest import log_into_admin
from instagram.models import InboundEvent


@pytest.fixture
def superuser_client(client: Client, db: None) -> Client:
    operator = User.objects.create_superuser(email="root@instaforge.example", password="a-Strong-pass-123")
    log_into_admin(client, operator)
    return client


def _inbound_event(account: InstagramAccount) -> InboundEvent:
    # An inbound event keeps only SET_NULL to its account: a bare cascade would leave it (and its payload) behind.
    return InboundEvent.objects.create(
        dedupe_key=f"comments:{account.ig_user_id}:1",
        object_type="instagram",
        field="comments",
        entry_id=account.ig_user_id,
        payload={"value": {"from": {"id": "1", "username": "fan"}, "text": "hi"}},
        workspace=account.workspace,
        account=account,
    )


def test_deleting_an_account_in_the_admin_erases_its_history(
    superuser_client: Client, make_account: Any, workspace: Workspace, django_capture_on_commit_callbacks: Any
) -> None:
    account = make_account(workspace)
    _inbound_event(account)

    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            f"/admin/accounts/instagramaccount/{account.pk}/delete/", {"post": "yes"}, follow=True
        )

    assert response.status_code == 200
    assert not InstagramAccount.all_workspaces.filter(pk=account.pk).exists()
    assert not InboundEvent.objects.filter(entry_id=account.ig_user_id).exists()
    entry = LogEntry.objects.filter(content_type__model="instagramaccount", object_id=account.pk).latest("id")
    assert entry.actor is not None and entry.actor.email == "root@instaforge.example"
    assert "history deleted" in entry.changes_text


def test_deleting_a_workspace_in_the_admin_erases_everything_in_it(
    superuser_client: Client, make_account: Any, make_workspace: Any, django_capture_on_commit_callbacks: Any
) -> None:
    doomed, kept = make_workspace("Doomed"), make_workspace("Kept")
    gone, other = make_account(doomed), make_account(kept)
    _inbound_event(gone), _inbound_event(other)

    with django_capture_on_commit_callbacks(execute=True):
        superuser_client.post(f"/admin/accounts/workspace/{doomed.pk}/delete/", {"post": "yes"}, follow=True)

    assert not Workspace.objects.filter(pk=doomed.pk).exists()
    assert not InboundEvent.objects.filter(entry_id=gone.ig_user_id).exists()
    assert InboundEvent.objects.filter(entry_id=other.ig_user_id).exists()
    assert LogEntry.objects.filter(content_type__model="workspace", object_id=doomed.pk, actor__isnull=False).exists()
