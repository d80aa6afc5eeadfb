"""The flow editor's step formset against a forged management form (issue 18, finding 4), and the inbox's ids.

``steps-TOTAL_FORMS`` is what the page says it sent: garbage must be a form
error, and a huge count must be refused before a form is built (Django's
default ``absolute_max`` of 2,000 forms cost seconds of CPU per request).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import InstagramAccount, Membership, Workspace
from messaging import forms as messaging_forms
from messaging.flows import FLOW_STEPS_MAX, steps_validate
from messaging.models import Flow
from messaging.tests.test_automation_views import flow_post

STEPS = [{"id": "hello", "type": "send_text", "text": "Hi!"}]


@pytest.fixture
def logged_in(client: Client, workspace: Workspace) -> Client:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


@pytest.fixture
def forms_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the step forms the editor builds (a spy: the forms behave as ever)."""
    built: list[int] = []
    original = messaging_forms.StepForm.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(messaging_forms.StepForm, "__init__", counting)
    return built


@pytest.mark.parametrize("total", ["abc", "", "1e3", "-1", "100000", "99999999999999999999", str(FLOW_STEPS_MAX + 1)])
@pytest.mark.parametrize("adding", [False, True])
def test_a_forged_step_count_is_a_form_error_without_building_the_forms(
    logged_in: Client, account: InstagramAccount, forms_built: list[int], total: str, adding: bool
) -> None:
    data = flow_post(account, STEPS, **({"add_step": "1", "new_step_type": "delay"} if adding else {}))
    data["steps-TOTAL_FORMS"] = total
    started = time.process_time()
    response = logged_in.post(reverse("flow_create"), data)
    assert response.status_code == 200
    assert "nothing was saved" in response.content.decode()
    assert time.process_time() - started < 1.0
    assert len(forms_built) <= 1  # the editor shows the default first step again, nothing more
    assert not Flow.all_workspaces.exists()


def test_add_step_at_the_limit_adds_nothing_and_says_why(logged_in: Client, account: InstagramAccount) -> None:
    steps = [{"id": f"s{index}", "type": "send_text", "text": "Hi"} for index in range(FLOW_STEPS_MAX)]
    response = logged_in.post(reverse("flow_create"), flow_post(account, steps, add_step="1"))
    page = response.content.decode()
    assert response.status_code == 200 and f"A flow has at most {FLOW_STEPS_MAX} steps." in page
    assert page.count('data-testid="step"') == FLOW_STEPS_MAX


def test_a_flow_of_the_most_steps_saves(logged_in: Client, account: InstagramAccount) -> None:
    steps = [{"id": f"s{index}", "type": "send_text", "text": "Hi"} for index in range(FLOW_STEPS_MAX)]
    response = logged_in.post(reverse("flow_create"), flow_post(account, steps))
    assert response.status_code == 302
    flow = Flow.all_workspaces.get()
    assert flow.current_version is not None and len(flow.current_version.steps) == FLOW_STEPS_MAX


def test_the_engine_refuses_more_steps_than_the_limit() -> None:
    steps = [{"id": f"s{index}", "type": "end"} for index in range(FLOW_STEPS_MAX + 1)]
    assert steps_validate(steps) == [f"A flow has at most {FLOW_STEPS_MAX} steps (this one has {FLOW_STEPS_MAX + 1})."]


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "9" * 5000, "-1"])
def test_the_inbox_filter_and_the_assign_button_take_any_member_id(
    logged_in: Client, make_conversation, value: str
) -> None:
    conversation = make_conversation()
    assert logged_in.get(reverse("conversation_list"), {"assigned": value}).status_code == 200
    response = logged_in.post(reverse("conversation_assign", args=[conversation.pk]), {"membership_id": value})
    assert response.status_code in {302, 404}
