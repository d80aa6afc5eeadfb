"""The flow builder's save (issue 20): the whole definition posted as JSON (``steps_json``), validated as the
plain form's steps are, saved as a new version only when the steps changed, and any hostile body (too big,
too deep, wrong types) answered with a message next to the step concerned, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import InstagramAccount, Membership, Workspace
from messaging.flows import FLOW_STEPS_MAX, NEXT_END, STEPS_JSON_MAX_CHARS, steps_from_json
from messaging.models import Flow, FlowVersion
from messaging.tests.test_automation_views import flow_post
from tests.factories import WorkspaceFactory

STEPS: list[dict[str, Any]] = [
    {
        "id": "choose",
        "type": "send_quick_replies",
        "text": "Coffee or tea?",
        "options": [
            {"title": "Coffee", "payload": "COFFEE", "goto": "coffee"},
            {"title": "Tea", "payload": "TEA", "goto": "tea"},
        ],
    },
    {"id": "coffee", "type": "send_text", "text": "Espresso it is.", "next": NEXT_END},
    {"id": "tea", "type": "send_text", "text": "Green tea it is."},
]


@pytest.fixture
def logged_in(client: Client, workspace: Workspace) -> Client:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    return client


def builder_post(account: InstagramAccount, steps_json: str, **extra: str) -> dict[str, str]:
    data = {
        "account": str(account.pk),
        "name": "Drinks",
        "trigger_kind": "keyword",
        "keywords": "drink",
        "priority": "100",
        "is_active": "on",
        "steps_json": steps_json,
    }
    data.update(extra)
    return data


def builder_data(response: Any) -> dict[str, Any]:
    """The builder's data on the page (the json_script the JavaScript reads)."""
    html = response.content.decode()
    start = html.index('<script id="flow-builder-data" type="application/json">') + len(
        '<script id="flow-builder-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_the_editor_page_carries_the_builder_and_its_script(logged_in: Client, account: InstagramAccount) -> None:
    page = logged_in.get(reverse("flow_create"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "js/flow_builder.js" in html and 'name="steps_json" disabled' in html
    data = builder_data(page)
    assert data["steps"] == [] and data["end"] == NEXT_END and data["limits"]["steps"] == FLOW_STEPS_MAX
    assert 'data-testid="step"' in html  # the plain form is still there, for a browser without JavaScript
    # ?editor=form: the plain form alone, even with JavaScript.
    plain = logged_in.get(reverse("flow_create") + "?editor=form").content.decode()
    assert "flow-builder-data" not in plain and "flow_builder.js" not in plain and 'data-testid="step"' in plain


def test_a_valid_definition_saves_a_version_and_an_unchanged_one_does_not(
    logged_in: Client, account: InstagramAccount
) -> None:
    response = logged_in.post(reverse("flow_create"), builder_post(account, json.dumps(STEPS)))
    flow = Flow.all_workspaces.get()
    assert response.status_code == 302 and response["Location"] == reverse("flow_edit", args=[flow.pk])
    assert flow.workspace_id == account.workspace_id and flow.current_version is not None
    assert flow.current_version.number == 1 and flow.current_version.steps == STEPS
    # The editor starts from the saved steps; the version page shows where each button leads.
    assert builder_data(logged_in.get(reverse("flow_edit", args=[flow.pk])))["steps"] == STEPS
    version_page = logged_in.get(reverse("flow_version", args=[flow.pk, 1])).content.decode()
    assert "Coffee (COFFEE) → coffee" in version_page and "then the flow ends" in version_page

    logged_in.post(reverse("flow_edit", args=[flow.pk]), builder_post(account, json.dumps(STEPS)))
    assert FlowVersion.all_workspaces.count() == 1  # same steps: no new version

    changed = [*STEPS[:2], {**STEPS[2], "text": "Green tea, then."}]
    logged_in.post(reverse("flow_edit", args=[flow.pk]), builder_post(account, json.dumps(changed)))
    flow.refresh_from_db()
    assert flow.current_version is not None and flow.current_version.number == 2
    assert FlowVersion.all_workspaces.get(number=1).steps == STEPS  # versions never change


def test_the_plain_form_writes_and_shows_branches_too(logged_in: Client, account: InstagramAccount) -> None:
    """Without JavaScript: buttons as ``Title | PAYLOAD -> step id`` lines, and the "Then go to" field."""
    plain = [
        {
            "id": "choose",
            "type": "send_quick_replies",
            "text": "Coffee or tea?",
            "options": "Coffee -> coffee\nTea|TEA->tea",
        },
        {"id": "coffee", "type": "send_text", "text": "Espresso it is.", "next": NEXT_END},
        {"id": "tea", "type": "send_text", "text": "Green tea it is."},
    ]
    response = logged_in.post(reverse("flow_create") + "?editor=form", flow_post(account, plain))
    assert response.status_code == 302
    assert FlowVersion.all_workspaces.get().steps == STEPS
    page = logged_in.get(response["Location"] + "?editor=form").content.decode()
    assert "Coffee | COFFEE -&gt; coffee" in page and f'value="{NEXT_END}"' in page


def test_fields_of_another_type_are_dropped_and_payloads_filled(logged_in: Client, account: InstagramAccount) -> None:
    posted = [
        {"id": "a", "type": "send_text", "text": " Hi ", "seconds": 5, "options": [{"title": "x"}], "junk": [1]},
        {"id": "b", "type": "ask", "text": "Size?", "variable": "size", "options": [{"title": "Extra large"}]},
    ]
    logged_in.post(reverse("flow_create"), builder_post(account, json.dumps(posted)))
    assert FlowVersion.all_workspaces.get().steps == [
        {"id": "a", "type": "send_text", "text": "Hi"},
        {
            "id": "b",
            "type": "ask",
            "text": "Size?",
            "variable": "size",
            "options": [{"title": "Extra large", "payload": "EXTRA_LARGE"}],
        },
    ]


def test_an_invalid_definition_is_shown_next_to_its_step_and_nothing_is_saved(
    logged_in: Client, account: InstagramAccount
) -> None:
    broken = [STEPS[0], {"id": "coffee", "type": "send_text", "text": ""}, {**STEPS[2], "next": "nowhere"}]
    response = logged_in.post(reverse("flow_create"), builder_post(account, json.dumps(broken)))
    assert response.status_code == 200 and not Flow.all_workspaces.exists()
    data = builder_data(response)
    assert data["steps"][1]["id"] == "coffee"  # the builder starts again from what was posted
    assert {"step": 1, "message": "Step 2 (coffee): needs a message text"} in data["problems"]
    assert {"step": 2, "message": "Step 3 (tea): there is no step 'nowhere' to go to"} in data["problems"]
    assert "Step 2 (coffee): needs a message text" in response.content.decode()  # also in the summary


def test_the_flow_fields_are_still_validated(logged_in: Client, account: InstagramAccount) -> None:
    response = logged_in.post(reverse("flow_create"), builder_post(account, json.dumps(STEPS), keywords=""))
    assert response.status_code == 200 and not Flow.all_workspaces.exists()
    assert "A keyword flow needs at least one keyword." in response.content.decode()
    assert builder_data(response)["steps"] == STEPS  # the member's steps are not lost


HOSTILE = [
    ("x" * (STEPS_JSON_MAX_CHARS + 1), "larger than"),
    ("[" * 100_001 + "]" * 100_001, "larger than"),
    ("[" * 99_000 + "]" * 99_000, "nested deeper"),
    ("[" * 5_000, "nested deeper"),
    ('[{"id": "a", "type": "send_text", "text": "hi", "x": ' + "[" * 20 + "]" * 20 + "}]", "nested deeper"),
    ("not json", "not valid JSON"),
    ('{"id": "a"}', "not a list of steps"),
    ("null", "not a list of steps"),
    ("[1, 2]", "Step 1: is not a step"),
    ('[{"id": 7, "type": "send_text", "text": "hi"}]', "Step 1: id is not a text"),
    ('[{"id": "a", "type": ["send_text"]}]', "Step 1: type is not a text"),
    ('[{"id": "a", "type": "send_text", "text": {"a": 1}}]', "Step 1: text is not a text"),
    ('[{"id": "a", "type": "delay", "seconds": "60"}]', "Step 1: seconds is not a number"),
    ('[{"id": "a", "type": "delay", "seconds": true}]', "Step 1: seconds is not a number"),
    ('[{"id": "a", "type": "delay", "seconds": 1e308}]', "Step 1: seconds is not a number"),
    ('[{"id": "a", "type": "ask", "text": "q", "variable": "v", "options": "A|B"}]', "the buttons is not a list"),
    ('[{"id": "a", "type": "ask", "text": "q", "variable": "v", "options": [{"title": 5}]}]', "not a set of texts"),
    ('[{"id": "a", "type": "ask", "text": "q", "variable": "v", "options": [[]]}]', "not a set of texts"),
    ('[{"id": "a", "type": "branch", "variable": "v", "cases": [{"match": "x", "goto": null}]}]', "not a set of"),
    ('[{"id": "a", "type": "nope"}]', "unknown step type 'nope'"),
    (json.dumps([{"id": f"s{n}", "type": "end"} for n in range(FLOW_STEPS_MAX + 1)]), "at most 50 steps"),
    ("[]", "A flow needs at least one step."),
    ("", "not valid JSON"),
    ('[{"id": "a", "type": "send_text", "text": "\\ud800"}]', "not text"),  # a lone surrogate
    ('[{"id": "a", "type": "send_text", "text": "a\\u0000b"}]', "not text"),  # PostgreSQL refuses NUL in JSON
]


@pytest.mark.parametrize(("body", "message"), HOSTILE)
def test_a_hostile_definition_is_a_message_never_a_500(
    logged_in: Client, account: InstagramAccount, body: str, message: str
) -> None:
    response = logged_in.post(reverse("flow_create"), builder_post(account, body))
    assert response.status_code == 200 and not Flow.all_workspaces.exists()
    assert message in " ".join(problem["message"] for problem in builder_data(response)["problems"])


def test_the_parser_alone_never_raises() -> None:
    for body, _ in HOSTILE:
        steps, problems = steps_from_json(body)
        assert isinstance(steps, list) and isinstance(problems, list)
    assert steps_from_json(json.dumps(STEPS)) == (STEPS, [])


def test_another_workspaces_flow_cannot_be_saved_through_the_builder(
    logged_in: Client, account: InstagramAccount, make_account: Any
) -> None:
    other_account = make_account(WorkspaceFactory())
    other = Flow.all_workspaces.create(
        workspace_id=other_account.workspace_id, account=other_account, name="Theirs", keywords="x"
    )
    response = logged_in.post(reverse("flow_edit", args=[other.pk]), builder_post(account, json.dumps(STEPS)))
    assert response.status_code == 404 and not FlowVersion.all_workspaces.exists()
