"""Reads shared by the events of one batch (instaforge/batching.py): once per batch, every time outside one."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.tenancy import workspace_scope
from instaforge.batching import batch_read, batch_reads
from instagram.models import InboundEvent, InboundEventState
from instagram.services import webhook_parse, webhook_store
from messaging.models import DmRule, Message


def test_a_read_is_kept_for_the_batch_and_made_again_outside_it() -> None:
    loads: list[str] = []

    def load() -> list[str]:
        loads.append("read")
        return ["rule"]

    assert batch_read(("rules", 1), load) == ["rule"]
    assert batch_read(("rules", 1), load) == ["rule"]
    assert len(loads) == 2  # outside a batch: every time
    with batch_reads():
        assert batch_read(("rules", 1), load) == ["rule"]
        with batch_reads():  # a nested block shares the outer one's reads
            assert batch_read(("rules", 1), load) == ["rule"]
        assert batch_read(("rules", 2), load) == ["rule"]  # another key: read
    assert len(loads) == 4
    with batch_reads():  # a new batch reads again
        batch_read(("rules", 1), load)
    assert len(loads) == 5


@pytest.mark.django_db(transaction=True)  # each DM's transaction commits: its CRM notice is sent in the batch
def test_a_batch_of_dms_reads_the_accounts_rules_and_settings_once(workspace, make_account, monkeypatch) -> None:
    """Through the task: ten DMs to one account in one batch, each answered by its rule, one read of the rules."""
    from instagram.tasks import inbound_events_process

    monkeypatch.setattr("instagram.services.enqueue_coalesced", lambda *args, **kwargs: None)  # stored, not processed
    account = make_account(workspace)
    with workspace_scope(workspace):
        DmRule.objects.create(account=account, name="Prices", keywords="price", reply_templates="It is 2.50")
    now = int(timezone.now().timestamp() * 1000)
    for number in range(10):
        item = {
            "sender": {"id": f"12345678901234{number:02d}"},
            "recipient": {"id": account.ig_user_id},
            "timestamp": now,
            "message": {"mid": f"mid-{number}", "text": "what is the price?"},
        }
        document = {"object": "instagram", "entry": [{"id": account.ig_user_id, "time": now, "messaging": [item]}]}
        webhook_store(changes=webhook_parse(body=json.dumps(document).encode()))
    with CaptureQueriesContext(connection) as queries:
        inbound_events_process([])
    assert set(InboundEvent.objects.values_list("state", flat=True)) == {InboundEventState.PROCESSED}
    with workspace_scope(workspace):
        assert Message.objects.filter(direction="out").count() == 10
    reads = [query["sql"] for query in queries if query["sql"].startswith("SELECT")]
    assert sum('FROM "messaging_dmrule"' in sql for sql in reads) == 2  # the welcome rule and the rules, once each
    assert sum('FROM "messaging_messagingsettings"' in sql for sql in reads) == 1
    assert sum('FROM "integrations_webhookendpoint"' in sql for sql in reads) == 1
