"""The demo command schedules one post of each kind, and they publish against the sandbox."""

from __future__ import annotations

from django.core.management import call_command
from django.utils import timezone

from accounts.models import AccountState, AccountTransition
from actions.models import Action
from publishing.models import PostState, ScheduledPost
from publishing.tests.conftest import connect, policy_relax, run_until_settled


def test_publishing_demo_schedules_each_kind_and_they_publish(
    sandbox_server, workspace, make_account, media_root
) -> None:
    policy_relax(workspace)
    account = connect(workspace, make_account, "demo_bakery")
    account.state = AccountState.WARMUP_DAY_1
    account.save(update_fields=["state"])
    call_command("publishing_demo", "--skip-warmup")
    account.refresh_from_db()
    assert account.state == AccountState.ACTIVE
    assert AccountTransition.all_workspaces.filter(account=account, to_state=AccountState.ACTIVE).exists()
    assert sorted(ScheduledPost.all_workspaces.values_list("kind", flat=True)) == ["carousel", "image", "reel", "story"]
    Action.all_workspaces.update(due_at=timezone.now())  # due in 30–60 s: run them now
    run_until_settled(seconds=60)
    assert set(ScheduledPost.all_workspaces.values_list("state", flat=True)) == {PostState.PUBLISHED}
