"""The correlation id: bound per request and per piece of work, carried by the events and actions, on every line."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django.fixtures import Settings

from accounts.models import Workspace
from actions.models import ActionType
from actions.services import action_plan
from instaforge.correlation import (
    REQUEST_ID_HEADER,
    LogContextFilter,
    correlation_bind,
    correlation_id,
    log_context,
    request_id_accept,
)
from instaforge.tests.test_production_settings import production_env, run
from instagram.models import InboundEvent
from sandbox.webhooks import webhook_signature


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_binding_nests_inherits_and_restores() -> None:
    assert correlation_id() == ""
    with correlation_bind(workspace_id=1) as outer:
        assert len(outer.correlation_id) == 32  # none was bound: a new one
        with correlation_bind(account_id=2, action_id=3) as inner:
            assert inner.correlation_id == outer.correlation_id
            assert (inner.workspace_id, inner.account_id, inner.action_id) == (1, 2, 3)
            with correlation_bind(correlation_id="another-0123", fresh=True) as fresh:
                assert (fresh.correlation_id, fresh.workspace_id, fresh.account_id) == ("another-0123", None, None)
            assert log_context() == inner
        assert log_context() == outer
    assert correlation_id() == ""


def test_a_new_thread_starts_with_nothing_bound() -> None:
    seen: list[str] = []
    with correlation_bind(correlation_id="parent-0123"):
        thread = threading.Thread(target=lambda: seen.append(correlation_id()))
        thread.start()
        thread.join()
    assert seen == [""]


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [
        ("f3c1a2b4-77aa-4e1b-9d3c-0123456789ab", True),
        ("req-01234567", True),
        ("a" * 64, True),
        ("a" * 65, False),  # bounded
        ("short", False),
        ("has space 1234", False),
        ("quote'0123456789", False),
        ("new\nline-0123456", False),
        ("", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(incoming: str, kept: bool) -> None:
    assert request_id_accept(incoming) == (incoming if kept else None)


def test_every_response_carries_its_request_id(client: Client) -> None:
    first = client.get(reverse("instagram_webhook"))
    second = client.get(reverse("instagram_webhook"))
    assert len(first[REQUEST_ID_HEADER]) == 32 and first[REQUEST_ID_HEADER] != second[REQUEST_ID_HEADER]
    kept = client.get(reverse("instagram_webhook"), headers={REQUEST_ID_HEADER: "lb-trace-0123456789"})
    assert kept[REQUEST_ID_HEADER] == "lb-trace-0123456789"
    replaced = client.get(reverse("instagram_webhook"), headers={REQUEST_ID_HEADER: "x" * 500})
    assert len(replaced[REQUEST_ID_HEADER]) == 32
    assert correlation_id() == ""  # nothing stays bound after the request


def test_django_s_own_line_about_a_request_carries_its_id(client: Client) -> None:
    """``django.request`` logs a 4xx after the middleware returned: the request on the record still names its id."""
    handler = _Kept()
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get("/no-such-page-for-the-log-test/", headers={REQUEST_ID_HEADER: "lb-trace-404404404"})
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    (record,) = handler.records
    assert vars(record)["correlation_id"] == "lb-trace-404404404"


def test_the_events_of_a_delivery_keep_its_request_id(client: Client, settings: Settings, db: None) -> None:
    body = json.dumps(
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "17841400000000999",
                    "time": int(timezone.now().timestamp()),
                    "changes": [
                        {"field": "comments", "value": {"id": f"1790000000000{n}", "text": "hi", "from": {"id": "1"}}}
                        for n in range(3)
                    ],
                }
            ],
        }
    ).encode()
    response = client.post(
        reverse("instagram_webhook"),
        body,
        content_type="application/json",
        headers={
            "X-Hub-Signature-256": webhook_signature(body=body, secret=settings.INSTAGRAM_APP_SECRET),
            REQUEST_ID_HEADER: "meta-delivery-0123456789",
        },
    )
    assert response.status_code == 200
    assert list(InboundEvent.objects.values_list("correlation_id", flat=True)) == ["meta-delivery-0123456789"] * 3


def test_an_action_keeps_the_correlation_id_it_was_planned_under(make_account, workspace: Workspace) -> None:
    account = make_account(workspace)
    payload = {"comment_id": "17900000000000001", "message": "Thanks!"}
    with correlation_bind(correlation_id="delivery-0123456789"):
        bound, _ = action_plan(
            account=account, action_type=ActionType.COMMENT_REPLY, idempotency_key="bound", payload=payload
        )
    unbound, _ = action_plan(
        account=account, action_type=ActionType.COMMENT_REPLY, idempotency_key="unbound", payload=payload
    )
    bound.refresh_from_db()
    unbound.refresh_from_db()
    assert (bound.correlation_id, unbound.correlation_id) == ("delivery-0123456789", "")


def test_the_filter_adds_what_is_bound_and_an_explicit_field_wins() -> None:
    handler = _Kept()
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("instaforge.tests.correlation")
    logger.addHandler(handler)
    try:
        logger.warning("unbound")
        with correlation_bind(correlation_id="work-0123456789", workspace_id=5, account_id=6):
            logger.warning("bound")
            logger.warning("explicit", extra={"account_id": 99})
    finally:
        logger.removeHandler(handler)
    unbound, bound, explicit = (vars(record) for record in handler.records)
    assert "correlation_id" not in unbound and unbound["log_context"] == ""
    assert (bound["correlation_id"], bound["workspace_id"], bound["account_id"]) == ("work-0123456789", 5, 6)
    assert "action_id" not in bound
    assert explicit["account_id"] == 99
    text = logging.Formatter("%(levelname)s %(name)s%(log_context)s: %(message)s").format(handler.records[1])
    assert text == "WARNING instaforge.tests.correlation [work-0123456789 workspace=5 account=6]: bound"


def test_a_production_process_logs_json_lines_redacted_and_the_demo_text(tmp_path: Path) -> None:
    code = (
        "import django, logging; django.setup(); "
        "from instaforge.correlation import correlation_bind; "
        "log = logging.getLogger('instaforge.check'); "
        "ctx = correlation_bind(correlation_id='proc-0123456789', account_id=7); ctx.__enter__(); "
        "log.warning('token %s', 'access_token=IGAAprocesstest0123456789abcdef', extra={'client_secret': 'shh-1'})"
    )
    production = run(["-c", code], production_env(tmp_path))
    assert production.returncode == 0, production.stderr
    (line,) = [json.loads(text) for text in production.stderr.splitlines()]
    assert line["message"] == "token access_token=[redacted]"
    assert (line["level"], line["logger"], line["correlation_id"], line["account_id"]) == (
        "WARNING",
        "instaforge.check",
        "proc-0123456789",
        7,
    )
    assert line["client_secret"] == "[redacted]"

    text = run(["-c", code], {**production_env(tmp_path), "LOG_FORMAT": "text"})
    assert text.returncode == 0, text.stderr
    assert "WARNING instaforge.check [proc-0123456789 account=7]: token access_token=[redacted]" in text.stderr

    refused = run(["-c", code], {**production_env(tmp_path), "LOG_FORMAT": "xml"})
    assert refused.returncode != 0 and "LOG_FORMAT must be json or text" in refused.stderr
