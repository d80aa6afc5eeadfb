"""Series computed from the database at scrape time: the same figures from any host that is scraped.

Registered in a registry of its own for each scrape (``observability.views.metrics``), never in the
process-wide one: nothing else that collects metrics triggers these queries. A handful of aggregate
queries over indexed columns per scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from accounts.models import AccountState, InstagramAccount
from actions.models import Action, ActionState
from instagram.models import InboundEvent
from integrations.models import DeliveryState, WebhookDelivery
from observability.readiness import UNPROCESSED_EVENT_STATES
from observability.selectors import heartbeat_ages
from safety.models import AccountUsage

RISK_BUCKETS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
TOKEN_WINDOWS = (("1d", timedelta(days=1)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))


class DatabaseCollector(Collector):
    """accounts by state, their risk scores, tokens expiring, backlogs, heartbeat ages."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now or timezone.now()
        yield self._accounts()
        yield self._risk_scores()
        yield self._tokens_expiring(now)
        yield self._backlog(now)
        yield self._heartbeats(now)

    def _accounts(self) -> Metric:
        family = GaugeMetricFamily("instaforge_accounts", "Connected Instagram accounts by state.", labels=["state"])
        counts = dict.fromkeys(AccountState.values, 0)
        for row in InstagramAccount.all_workspaces.values("state").annotate(count=Count("pk")):
            counts[row["state"]] = row["count"]
        for state, count in counts.items():
            family.add_metric([state.lower()], count)
        return family

    def _risk_scores(self) -> Metric:
        counts = AccountUsage.objects.aggregate(
            total=Count("pk"),
            score_sum=Sum("risk_score"),
            **{f"le_{bound}": Count("pk", filter=Q(risk_score__lte=bound)) for bound in RISK_BUCKETS},
        )
        buckets = [(floatToGoString(bound), counts[f"le_{bound}"]) for bound in RISK_BUCKETS]
        buckets.append(("+Inf", counts["total"]))
        family = HistogramMetricFamily(
            "instaforge_account_risk_score", "Risk scores (0-100) across accounts, read at scrape time."
        )
        family.add_metric([], buckets, sum_value=counts["score_sum"] or 0)
        return family

    def _tokens_expiring(self, now: datetime) -> Metric:
        family = GaugeMetricFamily(
            "instaforge_tokens_expiring", "Acting accounts' tokens expiring within a window.", labels=["within"]
        )
        holding = InstagramAccount.all_workspaces.exclude(
            state__in=[AccountState.INACTIVE, AccountState.CONNECTING]
        ).exclude(access_token_encrypted="")
        counts = holding.aggregate(
            **{label: Count("pk", filter=Q(token_expires_at__lte=now + window)) for label, window in TOKEN_WINDOWS}
        )
        for label, _ in TOKEN_WINDOWS:
            family.add_metric([label], counts[label] or 0)
        return family

    def _backlog(self, now: datetime) -> Metric:
        family = GaugeMetricFamily("instaforge_backlog", "Work waiting, by queue.", labels=["queue"])
        due = Action.all_workspaces.filter(state=ActionState.PLANNED, due_at__lte=now).count()
        events = InboundEvent.objects.filter(state__in=UNPROCESSED_EVENT_STATES).count()
        deliveries = WebhookDelivery.all_workspaces.filter(
            state__in=[DeliveryState.PENDING, DeliveryState.SENDING]
        ).count()
        family.add_metric(["due_actions"], due)
        family.add_metric(["unprocessed_events"], events)
        family.add_metric(["pending_crm_deliveries"], deliveries)
        return family

    def _heartbeats(self, now: datetime) -> Metric:
        family = GaugeMetricFamily(
            "instaforge_process_heartbeat_age_seconds",
            "Seconds since the newest heartbeat of each role (absent: never recorded).",
            labels=["role"],
        )
        for role, age in heartbeat_ages(now=now).items():
            if age is not None:
                family.add_metric([role], age)
        return family
