"""The automation pages: the flow editor (steps added, edited, reordered, deleted, validated; versions),
DM rules, the settings page (API key encrypted) and the explainability of an automated message."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import InstagramAccount, Membership, Workspace
from accounts.vault import token_decrypt
from messaging.models import DmRule, Flow, FlowVersion, MessagingSettings


@pytest.fixture
def logged_in(client: Client, workspace: Workspace) -> Client:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


def flow_post(account: InstagramAccount, steps: list[dict[str, Any]], **extra: str) -> dict[str, str]:
    data = {
        "account": str(account.pk),
        "name": "Orders",
        "trigger_kind": "keyword",
        "keywords": "order",
        "priority": "100",
        "is_active": "on",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    for index, step in enumerate(steps):
        data[f"steps-{index}-ORDER"] = str(index + 1)
        for key, value in step.items():
            data[f"steps-{index}-{key}"] = str(value)
    data.update(extra)
    return data


def test_a_flow_is_built_in_the_editor_and_each_change_of_steps_is_a_new_version(
    logged_in: Client, account: InstagramAccount
) -> None:
    assert logged_in.get(reverse("automation")).status_code == 200
    page = logged_in.get(reverse("flow_create"))
    assert page.status_code == 200 and 'data-testid="step"' in page.content.decode()

    steps = [
        {"id": "ask", "type": "ask", "text": "Pickup or delivery?", "variable": "mode", "options": "Pickup\nDelivery"},
        {"id": "route", "type": "branch", "variable": "mode", "cases": "PICKUP -> bye\nDELIVERY -> bye"},
        {"id": "bye", "type": "send_text", "text": "Thanks!"},
    ]
    # "Add step" shows one more blank step and saves nothing.
    added = logged_in.post(reverse("flow_create"), flow_post(account, steps, add_step="1", new_step_type="delay"))
    assert added.content.decode().count('data-testid="step"') == 4 and not Flow.all_workspaces.exists()

    response = logged_in.post(reverse("flow_create"), flow_post(account, steps))
    flow = Flow.all_workspaces.get()
    assert response.status_code == 302 and response["Location"] == reverse("flow_edit", args=[flow.pk])
    assert flow.current_version is not None and flow.current_version.number == 1
    assert flow.current_version.steps[0] == {
        "id": "ask",
        "type": "ask",
        "text": "Pickup or delivery?",
        "options": [{"title": "Pickup", "payload": "PICKUP"}, {"title": "Delivery", "payload": "DELIVERY"}],
        "variable": "mode",
    }

    # Saving the same steps again makes no new version; reordering and deleting do.
    logged_in.post(reverse("flow_edit", args=[flow.pk]), flow_post(account, steps))
    assert FlowVersion.all_workspaces.count() == 1
    changed = flow_post(account, steps, **{"steps-2-ORDER": "0", "steps-1-DELETE": "on"})
    logged_in.post(reverse("flow_edit", args=[flow.pk]), changed)
    flow.refresh_from_db()
    assert flow.current_version is not None and flow.current_version.number == 2
    assert [step["id"] for step in flow.current_version.steps] == ["bye", "ask"]
    listing = logged_in.get(reverse("automation")).content.decode()
    assert "v1" in listing and "v2" in listing
    version_page = logged_in.get(reverse("flow_version", args=[flow.pk, 1])).content.decode()
    assert "Pickup or delivery?" in version_page and "PICKUP → bye" in version_page


def test_the_editor_shows_validation_errors_and_saves_nothing(logged_in: Client, account: InstagramAccount) -> None:
    steps = [
        {"id": "route", "type": "branch", "variable": "mode", "cases": "yes -> nowhere"},
        {"id": "buttons", "type": "send_quick_replies", "text": "Pick", "options": "A title far longer than twenty"},
        {"id": "wait", "type": "delay"},
        {"id": "call", "type": "webhook", "url": "ftp://example.com", "variable": "result", "timeout": "5"},
        {"id": "long", "type": "send_text", "text": "😊" * 300},  # 300 characters, 1,200 bytes
    ]
    response = logged_in.post(reverse("flow_create"), flow_post(account, steps, keywords=""))
    page = response.content.decode()
    assert response.status_code == 200 and not Flow.all_workspaces.exists()
    assert "there is no step &#x27;nowhere&#x27; to go to" in page
    assert "longer than 20 characters" in page
    assert "the delay is a whole number of seconds" in page
    assert "the text is at most 1,000 bytes of UTF-8 (this one has 1,200" in page
    assert "A keyword flow needs at least one keyword." in page
    assert "Enter a valid URL." in page or "needs an http(s) URL" in page


def test_dm_rules_are_created_with_their_workspace_and_validated(logged_in: Client, account: InstagramAccount) -> None:
    data = {
        "account": account.pk,
        "name": "Welcome",
        "trigger_kind": "new_conversation",
        "reply_templates": "Hi {username}!\nHello {username}!",
        "quick_replies": "Prices\nOpening hours",
        "priority": 1,
        "is_active": "on",
    }
    assert logged_in.post(reverse("dm_rule_create"), data).status_code == 302
    rule = DmRule.all_workspaces.get()
    assert rule.workspace_id == account.workspace_id and rule.quick_reply_list == ["Prices", "Opening hours"]
    refused = logged_in.post(reverse("dm_rule_create"), {**data, "trigger_kind": "keyword", "keywords": ""})
    assert "A keyword rule needs at least one keyword." in refused.content.decode()


def test_settings_store_the_ai_key_encrypted(logged_in: Client, account: InstagramAccount) -> None:
    data = {
        "handover_keywords": "human, agent",
        "handover_confidence_below": "0",
        "handover_sentiment_below": "-0.5",
        "ai_enabled": "on",
        "ai_base_url": "https://llm.example.com",
        "ai_model": "small-model",
        "ai_api_key": "sk-secret",
        "ai_max_length": "300",
        "ai_timeout_seconds": "5",
        "ai_fallback_template": "Thanks!",
    }
    assert logged_in.post(reverse("messaging_settings"), data).status_code == 302
    config = MessagingSettings.all_workspaces.get()
    assert config.ai_enabled and "sk-secret" not in config.ai_api_key_encrypted
    assert token_decrypt(ciphertext=config.ai_api_key_encrypted) == "sk-secret"
    # Saving again without a key keeps it; a model is required when AI is on.
    logged_in.post(reverse("messaging_settings"), {**data, "ai_api_key": ""})
    config.refresh_from_db()
    assert token_decrypt(ciphertext=config.ai_api_key_encrypted) == "sk-secret"
    refused = logged_in.post(reverse("messaging_settings"), {**data, "ai_model": ""})
    assert "The AI needs a model name." in refused.content.decode()
