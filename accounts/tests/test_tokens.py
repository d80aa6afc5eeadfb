"""Token lifecycle against the sandbox: refresh, revocation, reconnecting, key rotation, nothing stored in clear."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount, Workspace
from accounts.services import account_access_token, account_connect_complete, account_transition, tokens_refresh_due
from accounts.vault import TokenDecryptionError, token_decrypt, token_encrypt
from sandbox.models import SandboxAccount, SandboxToken
from sandbox.services import sandbox_account_create, sandbox_authorize, sandbox_tokens_revoke
from sandbox.testing import SandboxServer

REDIRECT_URI = "http://testserver/instagram/callback/"


def connect(workspace: Workspace, username: str) -> tuple[InstagramAccount, SandboxAccount]:
    sandbox_account = sandbox_account_create(username=username)
    code = sandbox_authorize(account=sandbox_account, redirect_uri=REDIRECT_URI, scopes=["instagram_business_basic"])
    return account_connect_complete(
        workspace=workspace, code=code, redirect_uri=REDIRECT_URI, actor=None
    ), sandbox_account


def age(account: InstagramAccount, *, days_left: int) -> None:
    InstagramAccount.all_workspaces.filter(pk=account.pk).update(
        connected_at=timezone.now() - timedelta(days=60 - days_left),
        token_expires_at=timezone.now() + timedelta(days=days_left),
    )


def test_connecting_stores_a_long_lived_token(sandbox_server: SandboxServer, workspace: Workspace) -> None:
    account, _ = connect(workspace, "long_lived")
    assert account.token_expires_at is not None
    assert account.token_expires_at - timezone.now() > timedelta(days=59)
    token = account_access_token(account=account)
    assert SandboxToken.objects.get(token=token).kind == SandboxToken.Kind.LONG


def test_tokens_close_to_expiry_are_refreshed_and_fresh_ones_left_alone(
    sandbox_server: SandboxServer, workspace
) -> None:
    old_account, _ = connect(workspace, "old_token")
    new_account, _ = connect(workspace, "new_token")
    age(old_account, days_left=10)
    before_old = account_access_token(account=old_account)
    before_new = account_access_token(account=new_account)

    assert tokens_refresh_due() == {"refreshed": 1, "failed": 0}
    old_account.refresh_from_db()
    new_account.refresh_from_db()
    assert account_access_token(account=old_account) != before_old
    assert old_account.token_expires_at is not None and old_account.token_expires_at > timezone.now() + timedelta(
        days=59
    )
    assert account_access_token(account=new_account) == before_new


def test_a_revoked_token_moves_the_account_to_error_and_tells_the_workspace(
    sandbox_server: SandboxServer, client: Client, make_user, make_workspace, transactional_db: None
) -> None:
    owner = make_user("owner@shop.example")
    workspace = make_workspace("Shop", owner=owner)
    account, sandbox_account = connect(workspace, "revoked_shop")
    age(account, days_left=5)
    sandbox_tokens_revoke(account=sandbox_account)

    assert tokens_refresh_due() == {"refreshed": 0, "failed": 1}
    account.refresh_from_db()
    assert account.state == AccountState.ERROR
    assert "token" in account.state_reason
    assert [message.to for message in mail.outbox] == [["owner@shop.example"]]
    assert "reconnected" in mail.outbox[0].subject

    client.force_login(owner)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="error-banner"' in page
    assert "revoked_shop" in page


def test_reconnecting_restores_the_account_where_it_was(sandbox_server: SandboxServer, workspace: Workspace) -> None:
    account, sandbox_account = connect(workspace, "comeback")
    account_transition(account_id=account.pk, to_state=AccountState.WARMUP_DAY_2, cause="test")
    account_transition(account_id=account.pk, to_state=AccountState.WARMUP_DAY_3, cause="test")
    sandbox_tokens_revoke(account=sandbox_account)
    age(account, days_left=1)
    tokens_refresh_due()
    assert InstagramAccount.all_workspaces.get(pk=account.pk).state == AccountState.ERROR

    again, _ = connect(workspace, "comeback")
    assert again.pk == account.pk
    assert again.state == AccountState.WARMUP_DAY_3


def test_key_rotation_reencrypts_every_token_under_the_new_key(make_account, workspace, settings) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [old_key]
    accounts = [make_account(workspace, token=f"secret-token-{n}") for n in range(3)]

    settings.TOKEN_ENCRYPTION_KEYS = [new_key, old_key]  # step 1: the new key first, the old one still readable
    assert token_decrypt(ciphertext=accounts[0].access_token_encrypted) == "secret-token-0"
    call_command("rotate_token_keys")

    settings.TOKEN_ENCRYPTION_KEYS = [new_key]  # step 3: the old key is gone
    for number, account in enumerate(accounts):
        account.refresh_from_db()
        assert token_decrypt(ciphertext=account.access_token_encrypted) == f"secret-token-{number}"
    settings.TOKEN_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(TokenDecryptionError):
        token_decrypt(ciphertext=accounts[0].access_token_encrypted)


def test_a_token_encrypted_with_an_unknown_key_raises(settings) -> None:
    ciphertext = token_encrypt(plaintext="x")
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(TokenDecryptionError):
        token_decrypt(ciphertext=ciphertext)


def product_tables() -> list[str]:
    """Every table of InstaForge itself; the sandbox's tables are Instagram's side and hold its own tokens."""
    return [name for name in connection.introspection.table_names() if not name.startswith("sandbox_")]


def test_no_token_is_stored_in_clear(
    sandbox_server: SandboxServer, workspace: Workspace, tmp_path, transactional_db: None
) -> None:
    account, _ = connect(workspace, "vault_check")
    token = account_access_token(account=account)
    assert len(token) > 20

    if connection.vendor == "sqlite":
        # The database file itself, byte for byte, without Instagram's (the sandbox's) tables.
        copy = tmp_path / "copy.sqlite3"
        with connection.cursor() as cursor:
            cursor.execute("VACUUM INTO %s", [str(copy)])
        import sqlite3

        with sqlite3.connect(copy) as raw:
            tables = raw.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'sandbox_%'"
            ).fetchall()
            for (table,) in tables:
                raw.execute(f'DROP TABLE "{table}"')
        with sqlite3.connect(copy) as raw:
            raw.execute("VACUUM")
        data = copy.read_bytes()
        assert token.encode() not in data
        assert b"vault_check" in data  # the scan does see the account's row
    else:
        with connection.cursor() as cursor:
            for table in product_tables():
                cursor.execute(f'SELECT row_to_json(t)::text FROM "{table}" t')  # noqa: S608 (table names from the schema)
                for (row,) in cursor.fetchall():
                    assert token not in row, f"token found in clear in {table}"
