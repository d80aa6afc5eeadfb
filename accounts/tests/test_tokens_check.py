"""``manage.py tokens_check``: after a restore, do the stored secrets decrypt with the keys this process has?

Counts per registered field (every kind of secret), the row ids of the values that do not decrypt, never a
value, and an error exit when any does not. The whole restore (dump, fresh database, the web app) is
tests/test_backup_restore.py.
"""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from accounts.models import InstagramAccount, Workspace
from accounts.tenancy import workspace_scope
from accounts.vault import ENCRYPTED_FIELDS, UNREADABLE_IDS_SHOWN
from alerts.services import alert_settings_slack_set
from integrations.services import endpoint_create, endpoint_secret
from messaging.automation import messaging_settings_get, messaging_settings_save
from tests.factories import InstagramAccountFactory


def tokens_check() -> str:
    out = StringIO()
    call_command("tokens_check", stdout=out)
    return out.getvalue()


def tokens_check_failing() -> tuple[str, str]:
    """The output and the error of a run that must fail."""
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("tokens_check", stdout=out)
    return out.getvalue(), str(failed.value)


def secrets_of_every_kind(make_account, workspace: Workspace) -> list[str]:
    """One stored value in every registered field; returns the plain secrets (which no output may show)."""
    make_account(workspace, token="ig-secret-token")
    endpoint = endpoint_create(workspace=workspace, url="https://crm.example.com/hook", event_kinds=["new_lead"])
    with workspace_scope(workspace):
        messaging_settings_save(config=messaging_settings_get(workspace_id=workspace.pk), api_key="sk-ai-secret")
    alert_settings_slack_set(workspace_id=workspace.pk, url="https://hooks.slack.com/services/T/B/slack-secret")
    return ["ig-secret-token", "sk-ai-secret", endpoint_secret(endpoint=endpoint), "slack-secret"]


def test_every_secret_that_decrypts_is_counted_and_the_check_passes(settings, make_account, workspace) -> None:
    key = Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key]
    secrets = secrets_of_every_kind(make_account, workspace)

    output = tokens_check()

    for entry in ENCRYPTED_FIELDS:
        assert f"{entry} ({entry.holds}): 1 stored, 1 decrypt, 0 do not" in output
    assert f"All {len(ENCRYPTED_FIELDS)} stored secret(s) decrypt with the configured keys." in output
    assert not any(secret in output for secret in secrets)


def test_a_value_only_an_older_listed_key_reads_still_decrypts(settings, make_account, workspace) -> None:
    """Mid-rotation ([new, old]) a restore is complete: vault_check would say "rotate first", this one passes."""
    key_old, key_new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key_old]
    secrets_of_every_kind(make_account, workspace)
    settings.TOKEN_ENCRYPTION_KEYS = [key_new, key_old]

    assert "decrypt with the configured keys" in tokens_check()
    with pytest.raises(CommandError, match="still need an older key"):
        call_command("vault_check", stdout=StringIO())


def test_the_wrong_keys_fail_the_check_naming_the_rows_and_the_cause(settings, make_account, workspace) -> None:
    key_written, key_wrong = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key_written]
    secrets = secrets_of_every_kind(make_account, workspace)
    settings.TOKEN_ENCRYPTION_KEYS = [key_wrong]

    output, error = tokens_check_failing()

    for entry in ENCRYPTED_FIELDS:
        assert f"{entry} ({entry.holds}): 1 stored, 0 decrypt, 1 do not" in output
        [pk] = entry.model()._base_manager.values_list("pk", flat=True)
        assert f"rows #{pk}" in output
    assert f"none of the {len(ENCRYPTED_FIELDS)} stored secret(s) decrypts" in error
    assert "not the keys this database's secrets were written with" in error
    assert "reconnected" in error
    assert not any(secret in output + error for secret in secrets)
    [ciphertext] = InstagramAccount.all_workspaces.values_list("access_token_encrypted", flat=True)
    assert ciphertext not in output + error


def test_a_missing_older_key_names_only_the_values_it_wrote(settings, make_account, workspace) -> None:
    key_lost, key_kept = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key_lost]
    lost = make_account(workspace, token="lost-token")
    settings.TOKEN_ENCRYPTION_KEYS = [key_kept]
    kept = make_account(workspace, token="kept-token")

    output, error = tokens_check_failing()

    assert "(Instagram access tokens): 2 stored, 1 decrypt, 1 do not" in output
    assert f"do not decrypt: rows #{lost.pk}\n" in output
    assert f"#{kept.pk}" not in output
    assert "1 of the 2 stored secret(s) do not decrypt" in error
    assert lost.access_token_encrypted not in output + error


def test_many_unreadable_values_are_listed_up_to_a_bound_then_counted(settings, workspace) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    accounts = InstagramAccountFactory.create_batch(UNREADABLE_IDS_SHOWN + 3, workspace=workspace)
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    output, _ = tokens_check_failing()

    listed = sorted(account.pk for account in accounts)[:UNREADABLE_IDS_SHOWN]
    assert "do not decrypt: rows " + ", ".join(f"#{pk}" for pk in listed) + " and 3 more" in output


@pytest.mark.django_db
def test_a_database_without_secrets_passes() -> None:
    assert "All 0 stored secret(s) decrypt with the configured keys." in tokens_check()
