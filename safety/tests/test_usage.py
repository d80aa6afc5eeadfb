"""Usage headers and rate-limit answers stop an account until it regains access."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import AccountState
from actions.models import Action, Verdict
from safety.models import AccountUsage
from safety.services import USAGE_STOP_DEFAULT, gate_evaluate, rate_limit_observe, usage_observe


def planned(account) -> Action:
    return Action.all_workspaces.create(
        workspace_id=account.workspace_id, account=account, action_type="comment_reply", idempotency_key="k", payload={}
    )


def test_low_usage_is_recorded_and_does_not_stop(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 12, "total_time": 3, "total_cputime": 1}})
    record = AccountUsage.objects.get(account=account)
    assert record.peak_percent == 12 and record.regain_at is None
    # The next answers take the one-UPDATE path, and it records them too.
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 30}})
    assert AccountUsage.objects.get(account=account).peak_percent == 30
    assert gate_evaluate(action=planned(account), account=account).verdict == Verdict.ALLOW


def test_a_low_reading_over_a_recent_low_row_is_not_written(make_account, workspace, django_assert_num_queries) -> None:
    """The row the gate read a moment ago is low, and so is the answer: nothing the gate or risk reads changes."""
    account = make_account(workspace, state=AccountState.ACTIVE)
    now = timezone.now()
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 12}}, now=now)
    known = AccountUsage.objects.get(account=account)
    with django_assert_num_queries(0):
        usage_observe(
            account_id=account.pk, usage={"app": {"call_count": 12}}, now=now + timedelta(seconds=5), known=known
        )
        usage_observe(
            account_id=account.pk, usage={"app": {"call_count": 40}}, now=now + timedelta(seconds=5), known=known
        )
    assert AccountUsage.objects.get(account=account).peak_percent == 12  # the shown figure lags a little
    with django_assert_num_queries(1):  # the row is older than the rewrite period: written
        later = now + timedelta(seconds=20)
        usage_observe(account_id=account.pk, usage={"app": {"call_count": 13}}, now=later, known=known)
    assert AccountUsage.objects.get(account=account).updated_at == later
    # Above the risk's threshold it always goes through the full path, whatever the row said.
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 60}}, now=later, known=known)
    record = AccountUsage.objects.get(account=account)
    assert record.peak_percent == 60 and "usage" in record.risk_components
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 97}}, now=later, known=known)
    assert AccountUsage.objects.get(account=account).regain_at == later + USAGE_STOP_DEFAULT


def test_a_high_reading_no_higher_than_a_recent_row_is_not_written(
    make_account, workspace, django_assert_num_queries
) -> None:
    """Above the risk's threshold, a reading no higher than the row of a moment ago changes nothing that slows less."""
    account = make_account(workspace, state=AccountState.ACTIVE)
    now = timezone.now()
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 70}}, now=now)
    known = AccountUsage.objects.get(account=account)
    soon = now + timedelta(seconds=5)
    with django_assert_num_queries(0):
        usage_observe(account_id=account.pk, usage={"app": {"call_count": 70}}, now=soon, known=known)
        usage_observe(account_id=account.pk, usage={"app": {"call_count": 64}}, now=soon, known=known)
    record = AccountUsage.objects.get(account=account)
    assert record.peak_percent == 70 and record.updated_at == now  # the stored peak, the safer one, stays
    # Higher than the row: written, and the risk follows.
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 80}}, now=soon, known=known)
    record = AccountUsage.objects.get(account=account)
    assert (
        record.peak_percent == 80
        and record.risk_components["usage"]["points"] > known.risk_components["usage"]["points"]
    )
    # Near 100 % or with a regain time it is never skipped, even over a higher row.
    usage_observe(account_id=account.pk, usage={"retry_after_seconds": 600}, now=soon, known=record)
    assert AccountUsage.objects.get(account=account).regain_at == soon + timedelta(seconds=600)
    # An old row is rewritten with the lower reading.
    later = now + timedelta(seconds=30)
    usage_observe(account_id=account.pk, usage={"app": {"call_count": 64}}, now=later, known=record)
    assert AccountUsage.objects.get(account=account).peak_percent == 64


def test_usage_near_100_percent_stops_the_account(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    now = timezone.now()
    usage = {"business_use_case": {account.ig_user_id: [{"type": "instagram", "call_count": 97, "total_time": 20}]}}
    usage_observe(account_id=account.pk, usage=usage, now=now)
    record = AccountUsage.objects.get(account=account)
    assert record.regain_at == now + USAGE_STOP_DEFAULT
    decision = gate_evaluate(action=planned(account), account=account)
    assert decision.verdict == Verdict.DEFER and decision.until == record.regain_at
    assert "97 %" in decision.reason


def test_metas_regain_time_is_respected(make_account, workspace) -> None:
    account = make_account(workspace, state=AccountState.ACTIVE)
    now = timezone.now()
    usage_observe(account_id=account.pk, usage={"retry_after_seconds": 1800}, now=now)
    record = AccountUsage.objects.get(account=account)
    assert record.regain_at == now + timedelta(seconds=1800)


def test_a_rate_limit_answer_stops_the_account_and_other_accounts_go_on(make_account, workspace) -> None:
    limited = make_account(workspace, state=AccountState.ACTIVE)
    other = make_account(workspace, state=AccountState.ACTIVE)
    rate_limit_observe(account_id=limited.pk, code=4, retry_after_seconds=None)
    decision = gate_evaluate(action=planned(limited), account=limited)
    assert decision.verdict == Verdict.DEFER and "code 4" in decision.reason
    assert gate_evaluate(action=planned(other), account=other).verdict == Verdict.ALLOW
