"""Meta's 400 media containers per 24 hours count the containers publishing really creates."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState, ActionType
from publishing.models import PostState
from publishing.services import post_create
from publishing.tests.conftest import jpeg
from safety.ledger import LedgerRead, Tally, ledger_tallies
from sandbox.models import SandboxContainer


def _prepare_of(post) -> Action:
    return Action.all_workspaces.get(action_type=ActionType.PUBLISH, source_id=str(post.pk), payload__step="prepare")


def _containers_counted(account) -> int:
    """What the gate's ledger tally weighs for the account's publishes of the last 24 hours."""
    tally = Tally(since=timezone.now() - timedelta(days=1), types=frozenset({"publish"}), units="containers")
    read = LedgerRead(
        account_id=account.pk, action_id=0, since=timezone.now() - timedelta(days=1), tallies={"c": tally}
    )
    return int(ledger_tallies([read])[0]["c"])


def test_a_carousel_of_n_items_counts_n_plus_one_containers(publisher) -> None:
    items = [jpeg(1080, 1080, f"{number}.jpg") for number in range(3)]
    post = post_create(account=publisher, kind="carousel", caption="three", uploads=items, scheduled_at=timezone.now())
    prepare = _prepare_of(post)
    assert prepare.payload["containers"] == 4  # planned: the three items and the parent
    dispatch_once(worker_id="test")
    prepare.refresh_from_db()
    assert prepare.state == ActionState.SUCCEEDED
    assert prepare.result["containers"] == 4 == SandboxContainer.objects.count()  # created, as Instagram saw
    assert _containers_counted(publisher) == 4


def test_400_containers_in_24_hours_defer_the_next_publish_before_any_container(publisher) -> None:
    earlier = timezone.now() - timedelta(hours=2)
    Action.all_workspaces.bulk_create(
        Action(
            workspace_id=publisher.workspace_id,
            account=publisher,
            action_type=ActionType.PUBLISH,
            idempotency_key=f"earlier-{number}",
            payload={"step": "prepare", "containers": 10},
            result={"containers": 10},
            state=ActionState.SUCCEEDED,
            started_at=earlier,
        )
        for number in range(40)
    )
    assert _containers_counted(publisher) == 400
    post = post_create(
        account=publisher, kind="image", caption="one more", uploads=[jpeg()], scheduled_at=timezone.now()
    )
    dispatch_once(worker_id="test")
    prepare = _prepare_of(post)
    assert prepare.state == ActionState.PLANNED
    assert "Meta's media container limit: 400 of 400 used in the last 24 hours" in prepare.last_reason
    assert prepare.due_at >= earlier + timedelta(days=1)
    post.refresh_from_db()
    assert post.state == PostState.SCHEDULED
    assert SandboxContainer.objects.count() == 0  # nothing was asked of Instagram
