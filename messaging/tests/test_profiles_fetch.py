"""New people's profiles read by one task for a burst (``conversation_profiles_fetch``), each in its workspace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_django.fixtures import Settings

from devtools.graph_stub import GraphStub
from messaging.models import Conversation
from messaging.tasks import conversation_profiles_fetch
from messaging.tests.conftest import FOLLOWER_ID, deliver, message_item
from tests.factories import WorkspaceFactory


@pytest.fixture
def stub(settings: Settings) -> Iterator[GraphStub]:
    graph = GraphStub()
    settings.INSTAGRAM_GRAPH_URL = graph.start()
    yield graph
    graph.stop()


@pytest.mark.django_db
def test_each_profile_is_read_in_its_own_workspace_and_one_failure_stops_no_other(
    stub: GraphStub, make_account
) -> None:
    first, second = make_account(WorkspaceFactory.create()), make_account(WorkspaceFactory.create())
    assert first.workspace_id != second.workspace_id
    people = []
    for number, account in enumerate([first, second, first]):
        igsid = str(1_900_000_000_000_100 + number)
        stub.person_add(igsid=igsid, username=f"fan{number}")
        people.append(
            Conversation.all_workspaces.create(
                workspace_id=account.workspace_id, account=account, participant_igsid=igsid
            )
        )
    known = Conversation.all_workspaces.create(
        workspace_id=first.workspace_id, account=first, participant_igsid="1900000000000199", participant_username="ana"
    )
    unknown_person = Conversation.all_workspaces.create(  # the stub answers an error for a person it never made
        workspace_id=second.workspace_id, account=second, participant_igsid="1900000000000198"
    )
    items = [f"{c.workspace_id}:{c.pk}" for c in [*people, known, unknown_person]]
    # A conversation named under another workspace is not found there (tenancy), and a broken item is skipped.
    items += [f"{first.workspace_id}:{people[1].pk}", "not-an-item"]

    outcomes = conversation_profiles_fetch(items)

    assert {
        c.pk: c.participant_username for c in Conversation.all_workspaces.filter(pk__in=[p.pk for p in people])
    } == {
        people[0].pk: "fan0",
        people[1].pk: "fan1",
        people[2].pk: "fan2",
    }
    assert outcomes["profile stored"] == 3
    assert outcomes["nothing to do"] == 2  # the known one, and the one asked under the wrong workspace
    assert outcomes["failed"] == 1  # "not-an-item", logged
    assert [key for key in outcomes if key.startswith("profile not available")] != []  # Instagram's error
    assert sum(outcomes.values()) == len(items)  # every item once
    assert stub.calls["user_profile"] == 3  # the profiles it answered; the stranger was asked once too


@pytest.mark.django_db(transaction=True)
def test_a_new_person_s_first_message_has_their_profile_read(stub: GraphStub, make_account) -> None:
    """The webhook's path queues the read (tasks run inline here); a second message queues none."""
    account = make_account(WorkspaceFactory.create())
    stub.person_add(igsid=FOLLOWER_ID, username="ana.b")
    deliver(account, message_item(account, mid="m-1", text="hello"))
    conversation = Conversation.all_workspaces.get(account=account, participant_igsid=FOLLOWER_ID)
    assert conversation.participant_username == "ana.b"
    deliver(account, message_item(account, mid="m-2", text="hello again"))
    assert stub.calls["user_profile"] == 1
