"""The data migration that redacts the credentials error texts stored before issue 18 (finding 1)."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from accounts.models import AccountTransition, InstagramAccount
from actions.models import Action, ActionDecision, ActionType, Verdict
from instagram.models import InboundEvent
from safety.models import AccountUsage, SafetyEvent, SafetyEventKind

scrub = importlib.import_module("actions.migrations.0007_scrub_secrets_in_error_texts")

TOKEN = "IGAAJZBhsomeLongLiveTokenValue0123456789abcdef"
LEAK = (
    "Instagram could not be reached, nothing was sent: Could not connect: HTTPConnectionPool(host='127.0.0.1', "
    f"port=8001): Max retries exceeded with url: /v26.0/1789/replies?access_token={TOKEN} (Caused by "
    "NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))"
)


@pytest.mark.django_db
def test_the_migration_redacts_stored_error_texts_and_leaves_the_rest(make_workspace, make_account) -> None:
    workspace = make_workspace()
    account = make_account(workspace, state_reason=LEAK)
    dirty = Action.all_workspaces.create(
        workspace=workspace,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="dirty",
        last_reason=LEAK,
        result={"error": {"kind": "NotSentError", "message": LEAK, "code": None}},
    )
    clean = Action.all_workspaces.create(
        workspace=workspace,
        account=account,
        action_type=ActionType.COMMENT_REPLY,
        idempotency_key="clean",
        last_reason="Instagram rate limit (code 4): Application request limit reached",
        result={"error": {"code": 4}},
    )
    ActionDecision.all_workspaces.create(workspace=workspace, action=dirty, verdict=Verdict.DEFER, reason=LEAK)
    SafetyEvent.all_workspaces.create(
        workspace=workspace,
        account=account,
        kind=SafetyEventKind.ERROR,
        detail=LEAK,
        data={"error": {"message": LEAK}, "action": {"payload": {"message": "Thanks!"}}},
    )
    AccountUsage.objects.create(account=account, backoff={"comment_reply": {"failures": 1, "error": LEAK}})
    AccountTransition.all_workspaces.create(
        workspace=workspace, account=account, from_state="active", to_state="error", reason=LEAK
    )
    InboundEvent.objects.create(
        dedupe_key="comment:1", object_type="instagram", field="comments", entry_id="1", payload={}, outcome=LEAK
    )

    scrub._scrub(apps, SimpleNamespace(connection=connection))

    stored = [
        InstagramAccount.all_workspaces.get(pk=account.pk).state_reason,
        Action.all_workspaces.get(pk=dirty.pk).last_reason,
        str(Action.all_workspaces.get(pk=dirty.pk).result),
        ActionDecision.all_workspaces.get().reason,
        SafetyEvent.all_workspaces.get().detail,
        str(SafetyEvent.all_workspaces.get().data),
        str(AccountUsage.objects.get().backoff),
        AccountTransition.all_workspaces.get().reason,
        InboundEvent.objects.get().outcome,
    ]
    for text in stored:
        assert TOKEN not in text
        assert "access_token=[redacted]" in text  # the rest of the text is kept, for the operator
    assert SafetyEvent.all_workspaces.get().data["action"] == {"payload": {"message": "Thanks!"}}
    clean_after = Action.all_workspaces.get(pk=clean.pk)
    assert (clean_after.last_reason, clean_after.result) == (clean.last_reason, clean.result)
