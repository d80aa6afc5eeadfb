"""Issue 18: DM rules, flows and settings are bounded like comment rules, so one message costs bounded work."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest
from django.db import IntegrityError, transaction

from accounts.models import InstagramAccount
from actions.models import Action
from engagement.matching import KEYWORDS_MAX, KEYWORDS_MAX_CHARS, any_keyword_matches, keyword_list_parse
from messaging.flows import BRANCH_CASES_MAX, steps_validate
from messaging.forms import DmRuleForm, FlowForm, MessagingSettingsForm
from messaging.models import DM_AUTOMATIONS_MAX, DM_TEMPLATE_VARIATIONS_MAX, DmRule, Flow, MessagingSettings
from messaging.tests.conftest import deliver, message_item

TOO_MANY_KEYWORDS = ", ".join(f"k{number}" for number in range(KEYWORDS_MAX + 1))


def _largest_keyword_list(last: str) -> str:
    keywords = [f"kw{number:04d}x" for number in range(KEYWORDS_MAX - 1)] + [last]
    text = ", ".join(keywords)
    assert len(text) <= KEYWORDS_MAX_CHARS
    return text


def _dm_rule_form(account: InstagramAccount, **data: Any) -> DmRuleForm:
    values: dict[str, Any] = {"account": account.pk, "name": "r", "trigger_kind": "keyword", "keywords": "price"}
    values |= {"reply_templates": "Hello!", "priority": 100, "is_active": "on"} | data
    return DmRuleForm(data=values)


def test_the_dm_rule_form_refuses_a_list_or_replies_past_the_limits(account: InstagramAccount, in_workspace) -> None:
    form = _dm_rule_form(account, keywords=TOO_MANY_KEYWORDS)
    assert not form.is_valid()
    assert f"at most {KEYWORDS_MAX} keywords" in " ".join(map(str, form.errors["keywords"]))
    form = _dm_rule_form(account, reply_templates="\n".join(f"r{n}" for n in range(DM_TEMPLATE_VARIATIONS_MAX + 1)))
    assert not form.is_valid()
    assert f"At most {DM_TEMPLATE_VARIATIONS_MAX} variations" in " ".join(map(str, form.errors["reply_templates"]))
    assert _dm_rule_form(account, keywords=_largest_keyword_list("price")).is_valid()


def test_the_flow_form_refuses_a_list_past_the_limits(account: InstagramAccount, in_workspace) -> None:
    form = FlowForm(
        data={"account": account.pk, "name": "f", "trigger_kind": "keyword", "keywords": TOO_MANY_KEYWORDS}
        | {"priority": 100, "is_active": "on"}
    )
    assert not form.is_valid()
    assert f"at most {KEYWORDS_MAX} keywords" in " ".join(map(str, form.errors["keywords"]))


def test_an_account_has_a_bounded_number_of_active_dm_rules(account: InstagramAccount, in_workspace) -> None:
    DmRule.all_workspaces.bulk_create(
        DmRule(workspace_id=account.workspace_id, account=account, name=f"r{n}", keywords="x", reply_templates="hi")
        for n in range(DM_AUTOMATIONS_MAX)
    )
    form = _dm_rule_form(account)
    assert not form.is_valid()
    assert f"at most {DM_AUTOMATIONS_MAX} active DM rules" in " ".join(map(str, form.errors["is_active"]))


def test_a_branch_is_bounded_in_cases_and_keywords() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "ask", "type": "ask", "text": "Which size?", "variable": "size"},
        {
            "id": "pick",
            "type": "branch",
            "variable": "size",
            "cases": [{"match": TOO_MANY_KEYWORDS, "goto": "end"}]
            + [{"match": f"s{n}", "goto": "end"} for n in range(BRANCH_CASES_MAX)],
        },
        {"id": "end", "type": "end"},
    ]
    errors = " ".join(steps_validate(steps))
    assert f"at most {BRANCH_CASES_MAX} cases" in errors
    assert f"at most {KEYWORDS_MAX} keywords" in errors


def test_the_settings_form_refuses_too_long_a_list_of_blocked_words(in_workspace) -> None:
    config = MessagingSettings(workspace=in_workspace)
    form = MessagingSettingsForm(
        data={
            "handover_keywords": "human",
            "handover_confidence_below": 0,
            "handover_sentiment_below": -0.6,
            "ai_max_length": 500,
            "ai_timeout_seconds": 10,
            "ai_blocked_words": "w, " * 800,
        },
        instance=config,
    )
    assert not form.is_valid()
    assert f"at most {KEYWORDS_MAX_CHARS:,} characters" in " ".join(map(str, form.errors["ai_blocked_words"]))


def test_the_database_refuses_lists_past_the_limit(account: InstagramAccount) -> None:
    huge = ", ".join(f"word{number}" for number in range(1_000))
    with pytest.raises(IntegrityError), transaction.atomic():
        DmRule.all_workspaces.create(workspace_id=account.workspace_id, account=account, keywords=huge)
    with pytest.raises(IntegrityError), transaction.atomic():
        Flow.all_workspaces.create(workspace_id=account.workspace_id, account=account, keywords=huge)


def test_the_largest_keyword_lists_answer_a_message_quickly(account: InstagramAccount) -> None:
    """Twenty rules with the largest lists: the last keyword of the last rule answers, in bounded time."""
    for number in range(20):
        last = "croissant" if number == 19 else f"other{number}"
        DmRule.all_workspaces.create(
            workspace_id=account.workspace_id,
            account=account,
            name=f"rule {number}",
            keywords=_largest_keyword_list(last),
            reply_templates="Two fifty!",
            priority=number,
        )
    rules = list(DmRule.all_workspaces.filter(account=account).order_by("priority"))
    text = ("ab, " * 300)[:1000]
    timings = []
    for _ in range(6):
        started = time.perf_counter()
        for dm_rule in rules:
            any_keyword_matches(keywords=keyword_list_parse(dm_rule.keywords), text=text)
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings[1:]) < 0.010
    deliver(account, message_item(account, mid="m1", text="One CROISSANT please"))
    [payload] = [action.payload for action in Action.all_workspaces.filter(account=account)]
    assert payload["message"] == "Two fifty!"
