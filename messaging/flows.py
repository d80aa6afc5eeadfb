"""Flow steps as data: what each step type needs, and the validation the editor and the engine share.

A version's steps are a JSON list; each step is a dict with an ``id`` (unique in
the version), a ``type`` and the fields its type needs:

- ``send_text``: ``text``
- ``send_quick_replies``: ``text``, ``options`` (``[{"title", "payload"}]``, 1–13)
- ``ask``: ``text``, ``variable``, optional ``options``; waits for the answer and stores it
  (a quick reply's payload, else the text) in ``variables[variable]``
- ``branch``: ``variable``, ``cases`` (``[{"match": "kw1, kw2", "goto": step id}]``), optional
  ``default`` (a step id; else the next step)
- ``delay``: ``seconds``
- ``add_tag``: ``tag`` (the tag ``lead`` also emits ``new_lead``)
- ``webhook``: ``url``, ``timeout`` (seconds), ``variable`` (where the result goes)
- ``hand_over``: hands the conversation to a person
- ``end``: ends the flow

After a step the next one in the list runs, unless a branch jumps.
Texts may use a person's ``{username}``, ``{name}`` and ``{first_name}`` (``instaforge.text``) and the
``{variable}`` of earlier answers.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from engagement.matching import keyword_list_error
from instaforge.outbound import outbound_url_problem
from instagram.limits import message_text_error

STEP_TYPES: dict[str, str] = {
    "send_text": "Send a message",
    "send_quick_replies": "Send with quick-reply buttons",
    "ask": "Ask and wait for the answer",
    "branch": "Branch on an answer",
    "delay": "Wait (delay)",
    "add_tag": "Add a tag",
    "webhook": "Call an external webhook",
    "hand_over": "Hand over to a person",
    "end": "End the flow",
}
QUICK_REPLIES_MAX = 13  # Meta: at most 13 quick replies
QUICK_REPLY_TITLE_MAX = 20  # Meta: titles are cut at 20 characters
DELAY_MAX_SECONDS = 23 * 3600  # a delay must end inside the 24-hour window
WEBHOOK_TIMEOUT_MAX = 30.0
# Steps of one flow. Meta sets no limit; a conversation script longer than this is not one a
# follower sits through, and the editor builds and renders one form per step (the formset refuses more).
FLOW_STEPS_MAX = 50
# Cases of a branch: each answer is matched against them in order (each a keyword list within
# ``engagement.matching``'s limits), so their number bounds the work per answer. Meta sets none;
# a branch on a quick-reply answer needs at most one case per button (13).
BRANCH_CASES_MAX = 20
VARIABLE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
STEP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def options_parse(raw: str) -> list[dict[str, str]]:
    """Editor lines ``Title`` or ``Title | PAYLOAD`` as quick-reply options."""
    options = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        title, _, payload = line.partition("|")
        title = title.strip()
        payload = payload.strip() or re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "OPTION"
        options.append({"title": title, "payload": payload})
    return options


def options_format(options: list[dict[str, str]]) -> str:
    return "\n".join(f"{option['title']} | {option['payload']}" for option in options or [])


def cases_parse(raw: str) -> list[dict[str, str]]:
    """Editor lines ``keyword, PAYLOAD -> step id`` as branch cases."""
    cases = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        match, arrow, goto = line.partition("->")
        cases.append({"match": match.strip(), "goto": goto.strip() if arrow else ""})
    return cases


def cases_format(cases: list[dict[str, str]]) -> str:
    return "\n".join(f"{case['match']} -> {case['goto']}" for case in cases or [])


def _step_errors(step: dict[str, Any]) -> list[str]:
    kind = step.get("type")
    errors: list[str] = []
    if kind not in STEP_TYPES:
        return [f"unknown step type {kind!r}"]
    text = str(step.get("text") or "")
    if kind in ("send_text", "send_quick_replies", "ask"):
        if not text.strip():
            errors.append("needs a message text")
        elif (too_long := message_text_error(text, what="the text")) is not None:
            errors.append(too_long)
    if kind in ("send_quick_replies", "ask"):
        options = step.get("options") or []
        if kind == "send_quick_replies" and not options:
            errors.append("needs at least one quick-reply button")
        if len(options) > QUICK_REPLIES_MAX:
            errors.append(f"Instagram allows at most {QUICK_REPLIES_MAX} quick replies")
        for option in options:
            if not option.get("title"):
                errors.append("a quick reply needs a title")
            elif len(option["title"]) > QUICK_REPLY_TITLE_MAX:
                errors.append(f"the quick reply {option['title']!r} is longer than {QUICK_REPLY_TITLE_MAX} characters")
    if kind in ("ask", "branch", "webhook") and not VARIABLE_PATTERN.match(str(step.get("variable") or "")):
        errors.append("needs a variable name (lower case letters, digits and _)")
    if kind == "branch":
        cases = step.get("cases") or []
        if not cases:
            errors.append("needs at least one case (keywords -> step id)")
        if len(cases) > BRANCH_CASES_MAX:
            errors.append(f"has at most {BRANCH_CASES_MAX} cases")
        for case in cases:
            if not case.get("match") or not case.get("goto"):
                errors.append("each case is written 'keywords -> step id'")
            elif (problem := keyword_list_error(str(case["match"]), what="A case's keyword list")) is not None:
                errors.append(problem)
    if kind == "delay":
        seconds = step.get("seconds")
        if not isinstance(seconds, int) or not 1 <= seconds <= DELAY_MAX_SECONDS:
            errors.append(f"the delay is a whole number of seconds from 1 to {DELAY_MAX_SECONDS}")
    if kind == "add_tag" and not str(step.get("tag") or "").strip():
        errors.append("needs a tag")
    if kind == "webhook":
        url = urlparse(str(step.get("url") or ""))
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append("needs an http(s) URL")
        elif (problem := outbound_url_problem(url.geturl())) is not None:
            errors.append(problem)
        timeout = step.get("timeout")
        if not isinstance(timeout, int | float) or not 0 < timeout <= WEBHOOK_TIMEOUT_MAX:
            errors.append(f"the timeout is from 1 to {WEBHOOK_TIMEOUT_MAX:g} seconds")
    return errors


def steps_validate(steps: list[dict[str, Any]]) -> list[str]:
    """Every problem of a step list, in words (empty when it can be saved)."""
    if not steps:
        return ["A flow needs at least one step."]
    if len(steps) > FLOW_STEPS_MAX:
        return [f"A flow has at most {FLOW_STEPS_MAX} steps (this one has {len(steps)})."]
    errors: list[str] = []
    ids = [str(step.get("id") or "") for step in steps]
    for position, step in enumerate(steps, start=1):
        step_id = str(step.get("id") or "")
        label = f"Step {position} ({step_id or 'no id'})"
        if not STEP_ID_PATTERN.match(step_id):
            errors.append(f"{label}: the id uses letters, digits, - and _ (at most 40)")
        elif ids.count(step_id) > 1:
            errors.append(f"{label}: another step has the same id")
        errors += [f"{label}: {error}" for error in _step_errors(step)]
        targets = [case.get("goto") for case in step.get("cases") or []]
        if step.get("default"):
            targets.append(step["default"])
        errors += [
            f"{label}: there is no step {target!r} to go to" for target in targets if target and target not in ids
        ]
    return errors
