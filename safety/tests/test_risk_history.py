"""The risk score's history: a sample when the score changes or an hour has passed, none otherwise; pruning."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AccountState
from safety.models import AccountUsage, RiskScoreSample, SafetyEvent, SafetyEventKind, SafetyEventOutcome
from safety.services import RISK_SAMPLES_KEPT, risk_refresh, risk_samples_prune, safety_housekeep


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, state=AccountState.ACTIVE)


def _rate_limit(account, at) -> None:
    SafetyEvent.all_workspaces.create(
        workspace=account.workspace,
        account=account,
        at=at,
        kind=SafetyEventKind.RATE_LIMIT,
        outcome=SafetyEventOutcome.DEFER,
        code=4,
        detail="rate limited",
    )


def _samples(account) -> list[tuple[int, int]]:
    """(minutes after the start, score) of the account's samples, oldest first."""
    return [(round((at - START).total_seconds() / 60), score) for at, score in _rows(account)]


def _rows(account):
    return RiskScoreSample.all_workspaces.filter(account=account).order_by("at").values_list("at", "score")


START = timezone.now().replace(microsecond=0) - timedelta(days=1)


def test_a_sample_on_change_or_after_an_hour_and_not_otherwise(account) -> None:
    risk_refresh(account_id=account.pk, now=START)  # the first refresh: always sampled
    assert _samples(account) == [(0, 0)]
    risk_refresh(account_id=account.pk, now=START + timedelta(minutes=10))  # same score, 10 min later: none
    risk_refresh(account_id=account.pk, now=START + timedelta(minutes=59))
    assert _samples(account) == [(0, 0)]
    _rate_limit(account, START + timedelta(minutes=60))
    risk_refresh(account_id=account.pk, now=START + timedelta(minutes=61))  # changed: sampled at once
    assert _samples(account) == [(0, 0), (61, 25)]
    risk_refresh(account_id=account.pk, now=START + timedelta(minutes=90))  # steady: none
    assert len(_samples(account)) == 2
    risk_refresh(account_id=account.pk, now=START + timedelta(minutes=121))  # steady for an hour: sampled
    assert _samples(account) == [(0, 0), (61, 25), (121, 25)]
    usage = AccountUsage.objects.get(account=account)
    assert (usage.risk_score, usage.risk_sampled_score, usage.risk_sampled_at) == (
        25,
        25,
        START + timedelta(minutes=121),
    )
    sample = RiskScoreSample.all_workspaces.filter(account=account).last()
    assert sample is not None and sample.workspace_id == account.workspace_id


def test_a_refresh_without_a_due_sample_runs_no_more_queries(account, django_assert_num_queries) -> None:
    risk_refresh(account_id=account.pk, now=START)
    # The usage row (with its account), the events of the window, the UPDATE: as before the history existed.
    with django_assert_num_queries(3):
        risk_refresh(account_id=account.pk, now=START + timedelta(minutes=5))
    assert len(_samples(account)) == 1


def test_samples_older_than_90_days_are_pruned_in_batches(account, make_account, workspace) -> None:
    now = timezone.now()
    other = make_account(workspace)
    for days, who in ((100, account), (95, account), (91, other), (89, account), (1, other)):
        RiskScoreSample.all_workspaces.create(
            workspace=workspace, account=who, at=now - timedelta(days=days), score=days
        )
    assert risk_samples_prune(now=now, batch=2) == 2  # the two oldest first
    assert sorted(RiskScoreSample.all_workspaces.values_list("score", flat=True)) == [1, 89, 91]
    safety_housekeep(now=now)  # the dispatcher's housekeeping prunes too
    assert sorted(RiskScoreSample.all_workspaces.values_list("score", flat=True)) == [1, 89]
    assert not RiskScoreSample.all_workspaces.filter(at__lt=now - RISK_SAMPLES_KEPT).exists()
    assert risk_samples_prune(now=now) == 0
