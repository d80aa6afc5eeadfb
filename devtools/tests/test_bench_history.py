"""The benchmark's history: past ledger rows and inbound events, written in bulk, that no limit's window counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import Count, Value
from django.db.models.functions import Concat
from django.utils import timezone

from actions.models import Action, ActionDecision, ActionState
from devtools.bench_history import history_delete, history_seed
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import event_parse
from tests.factories import ActionFactory, InstagramAccountFactory, WorkspaceFactory

TERMINAL = {ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED}


@pytest.mark.django_db
def test_history_is_spread_over_accounts_and_past_days_in_terminal_states() -> None:
    workspace = WorkspaceFactory.create()
    accounts = [InstagramAccountFactory.create(workspace=workspace) for _ in range(3)]

    counts = history_seed(accounts=accounts, rows=2500)  # more than one SQLite batch

    assert counts == {"actions": 2500, "decisions": 2500, "inbound_events": 2500}
    actions = Action.all_workspaces.all()
    assert actions.count() == 2500
    assert set(actions.values_list("state", flat=True)) == TERMINAL
    per_account = dict(actions.values_list("account").annotate(n=Count("id")))
    assert sorted(per_account.values()) == [833, 833, 834]
    day_ago = timezone.now() - timedelta(days=1)
    assert not actions.filter(created_at__gte=day_ago).exists()
    assert not actions.filter(started_at__gte=day_ago).exists()
    assert actions.filter(created_at__lt=timezone.now() - timedelta(days=20)).exists()
    assert not actions.filter(state=ActionState.DENIED, started_at__isnull=False).exists()

    decisions = ActionDecision.all_workspaces.all()
    assert decisions.values("action").distinct().count() == 2500
    assert set(decisions.filter(action__state=ActionState.DENIED).values_list("verdict", flat=True)) == {"deny"}
    assert set(decisions.exclude(action__state=ActionState.DENIED).values_list("verdict", flat=True)) == {"allow"}

    events = InboundEvent.objects.all()
    assert events.count() == 2500
    assert set(events.values_list("field", flat=True)) == {"comments", "messaging"}
    assert set(events.values_list("state", flat=True)) <= {InboundEventState.PROCESSED, InboundEventState.IGNORED}
    assert not events.filter(received_at__gte=day_ago).exists()
    assert {event.account_id for event in events} == {account.pk for account in accounts}
    for event in events.order_by("id")[:20]:  # stored as the receiver stores them: the parser reads them back
        event_parse(field=event.field, payload=event.payload, entry_id=event.entry_id, entry_time=event.entry_time)


@pytest.mark.django_db
def test_no_history_writes_nothing() -> None:
    account = InstagramAccountFactory.create()
    assert history_seed(accounts=[account], rows=0) == {"actions": 0, "decisions": 0, "inbound_events": 0}
    assert not Action.all_workspaces.exists() and not InboundEvent.objects.exists()


@pytest.mark.django_db
def test_history_delete_removes_the_seeded_rows_only() -> None:
    workspace = WorkspaceFactory.create()
    account = InstagramAccountFactory.create(workspace=workspace)
    other = InstagramAccountFactory.create()
    history_seed(accounts=[other], rows=30)  # first: its keys are taken, the next seeding's events are not
    InboundEvent.objects.update(dedupe_key=Concat(Value("other:"), "dedupe_key"))
    history_seed(accounts=[account], rows=50)
    kept = ActionFactory.create(workspace=workspace, account=account)
    run_event = InboundEvent.objects.create(  # the run's own: its comments refer to it
        dedupe_key="comments:17860000000000001",
        object_type="instagram",
        field="comments",
        entry_id=account.ig_user_id,
        payload={},
        workspace=workspace,
        account=account,
    )

    history_delete(workspace_ids=[workspace.pk])

    assert Action.all_workspaces.filter(account=account).get() == kept
    assert Action.all_workspaces.filter(account=other).count() == 30
    assert ActionDecision.all_workspaces.filter(action__account=other).count() == ActionDecision.all_workspaces.count()
    assert InboundEvent.objects.filter(account=other).count() == 30
    assert InboundEvent.objects.filter(account=account).get() == run_event
