"""The vault's registry of encrypted fields: complete, and the one thing key rotation and vault_check walk.

End to end: an Instagram token, a CRM signing secret and an AI key are written
under key A; the keys become [B, A]; ``rotate_token_keys`` runs; the keys
become [B]; everything still works (the endpoint page, a signed CRM delivery,
the AI key, the Instagram token).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.test import Client
from django.test.utils import isolate_apps
from django.urls import reverse

from accounts.checks import vault_registry_check
from accounts.models import InstagramAccount, Workspace
from accounts.services import StoredTokenUnreadable, account_access_token, vault_reencrypt
from accounts.tenancy import workspace_scope
from accounts.vault import (
    ENCRYPTED_FIELDS,
    encrypted_fields_invalid,
    encrypted_fields_unregistered,
    token_decrypt,
    token_encrypt,
)
from alerts.services import alert_settings_slack_set, alert_settings_slack_url
from instagram.errors import GraphAPIError
from integrations.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from integrations.services import crm_event_send, endpoint_create, endpoint_secret, signature_verify
from integrations.services import webhook_delivery_attempt as delivery_attempt
from messaging.ai import ai_reply_generate
from messaging.automation import messaging_settings_get, messaging_settings_save
from messaging.models import MessagingSettings
from sandbox.testing import WebhookReceiver

# --- the registry is complete ------------------------------------------------------------------------------


def test_every_encrypted_field_of_every_model_is_registered() -> None:
    assert encrypted_fields_unregistered() == []
    assert encrypted_fields_invalid() == []
    assert vault_registry_check() == []
    labels = {str(entry) for entry in ENCRYPTED_FIELDS}
    assert labels >= {
        "accounts.InstagramAccount.access_token_encrypted",
        "integrations.WebhookEndpoint.secret_encrypted",
        "messaging.MessagingSettings.ai_api_key_encrypted",
    }


@isolate_apps("accounts")
def test_a_model_that_gains_an_unregistered_encrypted_field_fails_the_check() -> None:
    class Gadget(models.Model):
        api_key_encrypted = models.TextField()
        title = models.TextField()

        class Meta:
            app_label = "accounts"

        def __str__(self) -> str:
            return self.title

    assert encrypted_fields_unregistered(among=[Gadget]) == ["accounts.Gadget.api_key_encrypted"]


def test_a_field_dropped_from_the_registry_is_reported_by_the_system_check(monkeypatch) -> None:
    from accounts import vault

    monkeypatch.setattr(vault, "ENCRYPTED_FIELDS", ENCRYPTED_FIELDS[:-1])
    errors = vault_registry_check()
    assert [(error.id, error.msg.split(" ")[0]) for error in errors] == [("accounts.E001", str(ENCRYPTED_FIELDS[-1]))]


def _fernet_columns() -> set[tuple[str, str]]:
    """Every (table, column) of the database holding a value that looks like a Fernet token ("gAAAAA…")."""
    found = set()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f"SELECT 1 FROM {quote(table)} WHERE CAST({quote(column.name)} AS TEXT) LIKE %s LIMIT 1",  # noqa: S608 (names from the schema)
                    ["gAAAAA%"],
                )
                if cursor.fetchone():
                    found.add((table, column.name))
    return found


def test_every_column_that_stores_a_ciphertext_belongs_to_a_registered_field(make_account, workspace) -> None:
    """The naming rule's backstop: a ciphertext stored in any column that is not registered is found."""
    make_account(workspace, token="ig-token")
    endpoint_create(workspace=workspace, url="https://crm.example.com/hook", event_kinds=["new_lead"])
    with workspace_scope(workspace):
        messaging_settings_save(config=messaging_settings_get(workspace_id=workspace.pk), api_key="sk-key")
    alert_settings_slack_set(workspace_id=workspace.pk, url="https://hooks.slack.com/services/T/B/x")
    registered = set()
    for entry in ENCRYPTED_FIELDS:
        model_field = entry.model()._meta.get_field(entry.field_name)
        assert isinstance(model_field, models.Field)
        registered.add((entry.model()._meta.db_table, model_field.column))
    stored = _fernet_columns()
    assert stored == registered  # every registered field was exercised, and nothing else holds a ciphertext


# --- rotation end to end -----------------------------------------------------------------------------------


class FakeAI:
    """A local OpenAI-compatible endpoint that records the Authorization header it receives."""

    def __init__(self) -> None:
        self.auth: list[str | None] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                fake.auth.append(self.headers.get("Authorization"))
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": "Hello!"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_ai() -> Iterator[FakeAI]:
    server = FakeAI()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


def run(command: str) -> str:
    out = StringIO()
    call_command(command, stdout=out)
    return out.getvalue()


def secrets_of_every_kind(make_account: Any, workspace: Workspace, *, crm_url: str, ai_url: str) -> dict[str, Any]:
    account = make_account(workspace, token="ig-secret-token")
    endpoint = endpoint_create(workspace=workspace, url=crm_url, event_kinds=["new_lead"])
    with workspace_scope(workspace):
        config = messaging_settings_get(workspace_id=workspace.pk)
        config.ai_base_url, config.ai_model = ai_url, "tiny"
        messaging_settings_save(config=config, api_key="sk-ai-secret")
    alert_settings_slack_set(workspace_id=workspace.pk, url="https://hooks.slack.com/services/T/B/slack-secret")
    return {"account": account, "endpoint": endpoint, "crm_secret": endpoint_secret(endpoint=endpoint)}


def test_rotation_reencrypts_every_registered_field_and_nothing_breaks_when_the_old_key_is_gone(
    settings, make_user, make_workspace, make_account, receiver: WebhookReceiver, fake_ai: FakeAI
) -> None:
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TOKEN_ENCRYPTION_KEYS = [key_a]
    owner = make_user()
    workspace = make_workspace(owner=owner)
    made = secrets_of_every_kind(make_account, workspace, crm_url=receiver.url, ai_url=fake_ai.url)

    settings.TOKEN_ENCRYPTION_KEYS = [key_b, key_a]  # step 1: the new key first, the old one still readable
    with pytest.raises(CommandError, match="still need an older key"):
        run("vault_check")  # not yet safe to remove key A
    output = run("rotate_token_keys")
    assert "Re-encrypted 4 value(s)" in output
    check = run("vault_check")
    assert "older key(s) can be removed" in check
    for entry in ENCRYPTED_FIELDS:
        assert f"{entry} ({entry.holds}): 1 stored, 1 newest key, 0 older key, 0 unreadable" in check
    secrets = ("ig-secret-token", "sk-ai-secret", made["crm_secret"], "slack-secret")
    assert not any(secret in output + check for secret in secrets)
    # Idempotent: a second run has nothing left to rewrite.
    assert sum(report.rewritten for report in vault_reencrypt()) == 0

    settings.TOKEN_ENCRYPTION_KEYS = [key_b]  # step 3: key A is gone
    account = InstagramAccount.all_workspaces.get(pk=made["account"].pk)
    assert account_access_token(account=account) == "ig-secret-token"

    client = Client()
    client.force_login(owner)
    page = client.get(reverse("webhook_endpoint_edit", args=[made["endpoint"].pk]))
    assert page.status_code == 200 and made["crm_secret"] in page.content.decode()

    with workspace_scope(workspace):
        [delivery] = crm_event_send(workspace=workspace, kind="new_lead", data={"lead": 1})
    assert delivery_attempt(delivery_id=delivery.pk) == DeliveryState.SUCCEEDED
    [request] = receiver.requests
    assert signature_verify(
        secret=made["crm_secret"], body=request.body, header=request.headers["X-InstaForge-Signature"]
    )

    config = MessagingSettings.all_workspaces.get(workspace=workspace)
    assert ai_reply_generate(config=config, context={"text": "hi"}) == "Hello!"
    assert fake_ai.auth == ["Bearer sk-ai-secret"]
    assert alert_settings_slack_url(workspace_id=workspace.pk) == "https://hooks.slack.com/services/T/B/slack-secret"


def test_values_no_key_reads_are_reported_by_row_not_by_value_and_do_not_stop_the_rotation(
    settings, make_account, workspace
) -> None:
    key_lost, key_old, key_new = (Fernet.generate_key().decode() for _ in range(3))
    settings.TOKEN_ENCRYPTION_KEYS = [key_lost]
    lost = make_account(workspace, token="lost-token")
    settings.TOKEN_ENCRYPTION_KEYS = [key_old]
    kept = make_account(workspace, token="kept-token")
    endpoint = endpoint_create(workspace=workspace, url="https://crm.example.com/hook", event_kinds=["new_lead"])

    settings.TOKEN_ENCRYPTION_KEYS = [key_new, key_old]
    out = StringIO()
    with pytest.raises(CommandError, match="1 value\\(s\\) cannot be decrypted"):
        call_command("rotate_token_keys", stdout=out)
    assert "kept-token" not in out.getvalue()
    kept.refresh_from_db()
    settings.TOKEN_ENCRYPTION_KEYS = [key_new]
    assert token_decrypt(ciphertext=kept.access_token_encrypted) == "kept-token"
    endpoint.refresh_from_db()
    assert endpoint_secret(endpoint=endpoint).startswith("whsec_")

    out = StringIO()
    with pytest.raises(CommandError, match="cannot be decrypted with any configured key"):
        call_command("vault_check", stdout=out)
    assert "accounts.InstagramAccount.access_token_encrypted (Instagram access tokens): 2 stored" in out.getvalue()
    assert f"(rows #{lost.pk})" in out.getvalue()
    assert lost.access_token_encrypted not in out.getvalue()
    # To the product, an unreadable Instagram token is a token to reconnect, not a crash.
    with pytest.raises(StoredTokenUnreadable) as caught:
        account_access_token(account=lost)
    assert isinstance(caught.value, GraphAPIError)


def test_pages_with_an_unreadable_secret_say_so_instead_of_failing(
    settings, client: Client, make_user, make_workspace
) -> None:
    owner = make_user()
    workspace = make_workspace(owner=owner)
    client.force_login(owner)
    endpoint = endpoint_create(workspace=workspace, url="https://crm.example.com/hook", event_kinds=["new_lead"])
    MessagingSettings.all_workspaces.create(workspace=workspace, ai_api_key_encrypted=token_encrypt(plaintext="sk"))
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the key they were written with is gone

    page = client.get(reverse("webhook_endpoint_edit", args=[endpoint.pk]))
    assert page.status_code == 200
    assert "Secret unreadable — re-enter it" in page.content.decode()
    ai_page = client.get(reverse("messaging_settings"))
    assert ai_page.status_code == 200
    assert "Key unreadable — re-enter it" in ai_page.content.decode()

    # Re-entering the secret the CRM has restores the endpoint, under the current key.
    response = client.post(
        reverse("webhook_endpoint_secret_reset", args=[endpoint.pk]), {"secret": "whsec_from_crm_0123"}
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.all_workspaces.get(pk=endpoint.pk)
    assert endpoint_secret(endpoint=endpoint) == "whsec_from_crm_0123"
    fixed = client.get(reverse("webhook_endpoint_edit", args=[endpoint.pk])).content.decode()
    assert "whsec_from_crm_0123" in fixed and "Secret unreadable" not in fixed


def test_a_delivery_whose_secret_is_unreadable_fails_with_its_reason_and_sends_nothing(
    settings, workspace, receiver: WebhookReceiver
) -> None:
    endpoint = endpoint_create(workspace=workspace, url=receiver.url, event_kinds=["new_lead"])
    [delivery] = crm_event_send(workspace=workspace, kind="new_lead", data={"lead": 1})
    settings.TOKEN_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    assert delivery_attempt(delivery_id=delivery.pk) == DeliveryState.FAILED
    delivery = WebhookDelivery.all_workspaces.get(pk=delivery.pk)
    assert delivery.state == DeliveryState.FAILED and delivery.next_attempt_at is None
    assert "signing secret cannot be decrypted" in delivery.last_error and delivery.attempts == 1
    assert receiver.requests == []
    assert endpoint.pk == delivery.endpoint_id
