"""/metrics: who may read it, what it says, and the bounded labels."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pytest_django.fixtures import Settings

from accounts.models import AccountState, InstagramAccount
from actions.models import Verdict
from observability.metrics import WEBHOOK_FIELDS, graph_endpoint
from observability.models import HeartbeatRole
from observability.services import heartbeat_beat
from safety.decision import Decision
from safety.models import AccountUsage
from safety.services import gate_reason_category
from tests.factories import ActionFactory, InstagramAccountFactory

ROOT = Path(__file__).resolve().parents[2]
SERIES = (
    "instaforge_actions_total",
    "instaforge_action_lag_seconds",
    "instaforge_gate_decisions_total",
    "instaforge_graph_requests_total",
    "instaforge_graph_request_seconds",
    "instaforge_graph_rate_limited_total",
    "instaforge_webhook_deliveries_total",
    "instaforge_webhook_entries_total",
    "instaforge_inbound_lag_seconds",
    "instaforge_accounts",
    "instaforge_account_risk_score",
    "instaforge_tokens_expiring",
    "instaforge_backlog",
    "instaforge_process_heartbeat_age_seconds",
)


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


@pytest.fixture(autouse=True)
def scraper_allowed(settings: Settings) -> None:
    """The test client's address (127.0.0.1) may scrape (the tests of who may override it)."""
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]


@pytest.fixture
def production(settings: Settings) -> Settings:
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.TRUSTED_PROXY_COUNT = 0
    return settings


def test_closed_in_production_without_a_token_or_networks(db: None, client: Client, production: Settings) -> None:
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403
    production.DEBUG = True
    assert client.get("/metrics").status_code == 200


def test_the_bearer_token_opens_it(db: None, client: Client, production: Settings) -> None:
    production.METRICS_TOKEN = "scrape-token-4a1f"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic scrape-token-4a1f").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-4a1f").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="bearer  scrape-token-4a1f ").status_code == 200
    production.DEBUG = True  # a token set closes it in DEBUG too
    assert client.get("/metrics").status_code == 403


def test_allowed_networks_open_it_by_client_address(db: None, client: Client, production: Settings) -> None:
    production.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="fd00::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 403
    # X-Forwarded-For counts only behind trusted proxies, and then the address the outermost one saw.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    production.TRUSTED_PROXY_COUNT = 1
    assert client.get("/metrics", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 200
    assert (
        client.get("/metrics", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="10.1.2.3, 203.0.113.9").status_code == 403
    )
    # With a token as well, either opens it.
    production.METRICS_TOKEN = "scrape-token-4a1f"
    assert (
        client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_AUTHORIZATION="Bearer scrape-token-4a1f").status_code
        == 200
    )


def test_settings_parse_the_networks_and_refuse_a_bad_one(tmp_path: Path) -> None:
    code = "import django; django.setup(); from django.conf import settings as s; print(s.METRICS_ALLOWED_NETWORKS)"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "instaforge.settings", "DEBUG": "true"}
    env["METRICS_ALLOWED_NETWORKS"] = "10.0.0.0/8,192.168.1.7"
    good = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stderr
    assert "IPv4Network('10.0.0.0/8'), IPv4Network('192.168.1.7/32')" in good.stdout
    env["METRICS_ALLOWED_NETWORKS"] = "10.0.0.0/8,not-a-network"
    bad = subprocess.run(  # noqa: S603 (our own interpreter)
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0 and "not-a-network" in bad.stderr


def test_every_series_is_exposed(db: None, client: Client) -> None:
    text = client.get("/metrics").content.decode()
    for name in SERIES:
        assert f"# TYPE {name} " in text, name


def test_the_database_gauges_are_read_at_scrape_time(db: None, client: Client) -> None:
    now = timezone.now()
    active = InstagramAccountFactory.create(token_expires_at=now + timedelta(hours=5))
    InstagramAccountFactory.create(token_expires_at=now + timedelta(days=3), workspace=active.workspace)
    InstagramAccountFactory.create(state=AccountState.SUSPENDED, token_expires_at=now + timedelta(days=60))
    InstagramAccountFactory.create(state=AccountState.INACTIVE, access_token_encrypted="", token_expires_at=now)
    for account, score in zip(InstagramAccount.all_workspaces.order_by("pk")[:3], (5, 45, 95), strict=True):
        AccountUsage.objects.create(account=account, risk_score=score)
    ActionFactory.create(account=active, due_at=now - timedelta(minutes=1))
    ActionFactory.create(account=active, due_at=now + timedelta(hours=1))  # not due yet
    heartbeat_beat(role=HeartbeatRole.DISPATCHER, name="test:1", now=now - timedelta(seconds=30), force=True)

    samples = scrape(client)
    assert samples[("instaforge_accounts", (("state", "active"),))] == 2
    assert samples[("instaforge_accounts", (("state", "suspended"),))] == 1
    assert samples[("instaforge_accounts", (("state", "inactive"),))] == 1
    assert samples[("instaforge_accounts", (("state", "paused"),))] == 0
    assert samples[("instaforge_tokens_expiring", (("within", "1d"),))] == 1
    assert samples[("instaforge_tokens_expiring", (("within", "7d"),))] == 2
    assert samples[("instaforge_tokens_expiring", (("within", "30d"),))] == 2
    assert samples[("instaforge_account_risk_score_bucket", (("le", "10.0"),))] == 1
    assert samples[("instaforge_account_risk_score_bucket", (("le", "50.0"),))] == 2
    assert samples[("instaforge_account_risk_score_bucket", (("le", "+Inf"),))] == 3
    assert samples[("instaforge_account_risk_score_sum", ())] == 145
    assert samples[("instaforge_backlog", (("queue", "due_actions"),))] == 1
    assert samples[("instaforge_backlog", (("queue", "unprocessed_events"),))] == 0
    assert samples[("instaforge_backlog", (("queue", "pending_crm_deliveries"),))] == 0
    age = samples[("instaforge_process_heartbeat_age_seconds", (("role", "dispatcher"),))]
    assert 30 <= age < 60
    assert ("instaforge_process_heartbeat_age_seconds", (("role", "worker"),)) not in samples  # never beat


def test_no_label_holds_an_id(db: None, client: Client) -> None:
    account = InstagramAccountFactory.create()
    ActionFactory.create(account=account)
    for (name, labels), _ in scrape(client).items():
        if name.startswith("instaforge_"):
            for _, value in labels:
                assert not (value.isdigit() and len(value) > 5), (name, labels)  # codes and statuses only
                assert account.username not in value and account.ig_user_id not in value


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("https://graph.instagram.com/v26.0/17895695668004550/replies?access_token=IGAA123", "/{id}/replies"),
        ("https://graph.instagram.com/v26.0/me/media", "/me/media"),
        ("https://graph.instagram.com/v26.0/me", "/me"),
        ("http://127.0.0.1:8001/v21/17841400000000001/messages", "/{id}/messages"),
        ("https://graph.instagram.com/aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlE", "/{id}"),
        ("https://api.instagram.com/oauth/access_token", "/oauth/access_token"),
        ("https://graph.instagram.com/refresh_access_token", "/refresh_access_token"),
        ("https://graph.instagram.com/v26.0/123/Replies", "/{id}/{id}"),
        ("http://[::1/v26.0/me", "/{invalid}"),
    ],
)
def test_graph_endpoints_are_templates_without_ids(url: str, template: str) -> None:
    assert graph_endpoint(url) == template


def test_gate_reasons_become_a_few_categories() -> None:
    until = timezone.now()
    cases = {
        "cooldown: 30 s between comment replies": "cooldown",
        "account hourly limit: 50 of 50 used in the last hour": "limit",
        "Meta's private replies limit: 750 of 750 used in the last hour": "meta_limit",
        "global hourly limit: 500 of 500 used (fixed hour window, resets at 13:00 UTC)": "shared_limit",
        "kill switch: sending is stopped for this workspace (incident 42)": "kill_switch",
        "the account is paused; only active or warming-up accounts act": "account_state",
        "no calls until Instagram's limit resets: code 4": "rate_limited",
        "warm-up day 2 (observation phase): comment replies start on day 3": "warmup",
        "backoff: 3 consecutive failures of DMs (last: x); waiting 120 s": "backoff",
        "pattern: velocity spike, 9 actions in the last 10 min": "pattern",
        "active hours: proactive actions run 8:00–22:00": "active_hours",
        "slowed down by risk 65/100 (rate limits): limits at 50 %": "risk",
        "something new the gate says one day": "other",
    }
    for reason, category in cases.items():
        assert gate_reason_category(Decision.defer(until, reason)) == category, reason
    assert gate_reason_category(Decision.allow("pattern: sent a variation; within every limit")) == "allowed"
    assert gate_reason_category(Decision(Verdict.DENY, "the account is inactive")) == "account_state"


def test_webhook_fields_are_bounded() -> None:
    assert "comments" in WEBHOOK_FIELDS and "messaging" in WEBHOOK_FIELDS


MULTIPROCESS_CHILD = """
from observability.metrics import ACTIONS, ACTION_LAG
ACTIONS.labels(type="comment_reply", outcome="succeeded").inc()
ACTION_LAG.observe(2)
"""


def test_multiprocess_mode_sums_the_processes_of_a_host(
    db: None, client: Client, settings: Settings, tmp_path: Path
) -> None:
    """Two processes (a dispatcher and a gunicorn worker, say) count into the shared directory; /metrics sums them."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", MULTIPROCESS_CHILD], env=env, cwd=ROOT, check=True)  # noqa: S603
    settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)
    samples = scrape(client)
    assert samples[("instaforge_actions_total", (("outcome", "succeeded"), ("type", "comment_reply")))] == 2
    assert samples[("instaforge_action_lag_seconds_bucket", (("le", "2.5"),))] == 2
    assert samples[("instaforge_action_lag_seconds_bucket", (("le", "1.0"),))] == 0
    assert ("instaforge_accounts", (("state", "active"),)) in samples  # the database's gauges too
