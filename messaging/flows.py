"""Flow steps as data: what each step type needs, and the validation the editor and the engine share.

A version's steps are a JSON list; each step is a dict with an ``id`` (unique in
the version), a ``type`` and the fields its type needs:

- ``send_text``: ``text``
- ``send_quick_replies``: ``text``, ``options`` (``[{"title", "payload", "goto"?}]``, 1–13)
- ``ask``: ``text``, ``variable``, optional ``options``; waits for the answer and stores it
  (a quick reply's payload, else the text) in ``variables[variable]``
- ``branch``: ``variable``, ``cases`` (``[{"match": "kw1, kw2", "goto": step id}]``), optional
  ``default`` (a step id; else the next step)
- ``delay``: ``seconds``
- ``add_tag``: ``tag`` (the tag ``lead`` also emits ``new_lead``)
- ``webhook``: ``url``, ``timeout`` (seconds), ``variable`` (where the result goes)
- ``hand_over``: hands the conversation to a person
- ``end``: ends the flow

After a step the next one in the list runs, unless a branch jumps. Any step may name the one to
run after it in ``next`` (a step id, or ``#end`` to end the flow there): that is how the steps of
one branch skip the steps of another.

Branching on a quick reply: an option's ``goto`` (a step id) is where a tap on that button leads.
An ``ask`` step goes there after storing the answer; a ``send_quick_replies`` step with at least one
``goto`` waits for the tap as an ``ask`` does (without one it sends and goes on, as it always did).
The answer matches an option by its payload (what Instagram sends for a tap), or by its title when
the follower types it; an answer that matches no option with a ``goto`` goes on to the next step.
Texts may use a person's ``{username}``, ``{name}`` and ``{first_name}`` (``instaforge.text``) and the
``{variable}`` of earlier answers.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from engagement.matching import keyword_list_error
from instaforge.outbound import outbound_url_problem
from instaforge.text import text_fold
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
# The step after the last one: a step's ``next`` that ends the flow. Not a valid step id, so never a step.
NEXT_END = "#end"
# A definition posted by the builder (JSON): 50 steps of the longest texts stay well below this.
STEPS_JSON_MAX_CHARS = 200_000
STEPS_JSON_MAX_DEPTH = 4  # [ step { options [ option { — anything deeper is not a definition
VARIABLE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
STEP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def payload_from_title(title: str) -> str:
    """The payload a button gets when the member gives none: its title in capitals, ``_`` between words."""
    return re.sub(r"[^A-Z0-9]+", "_", title.upper()).strip("_") or "OPTION"


def options_parse(raw: str) -> list[dict[str, str]]:
    """Editor lines ``Title``, ``Title | PAYLOAD`` or ``Title | PAYLOAD -> step id`` as quick-reply options."""
    options = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        button, arrow, goto = line.partition("->")
        title, _, payload = button.partition("|")
        title = title.strip()
        option = {"title": title, "payload": payload.strip() or payload_from_title(title)}
        if arrow and goto.strip():
            option["goto"] = goto.strip()
        options.append(option)
    return options


def options_format(options: list[dict[str, str]]) -> str:
    return "\n".join(
        f"{option['title']} | {option['payload']}" + (f" -> {option['goto']}" if option.get("goto") else "")
        for option in options or []
    )


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


def steps_problems(steps: list[dict[str, Any]]) -> list[tuple[int | None, str]]:
    """Every problem of a step list as ``(position, message)``: the step's index (0-based), or None for the list.

    The builder shows each message next to its step; ``steps_validate`` gives the messages alone.
    """
    if not steps:
        return [(None, "A flow needs at least one step.")]
    if len(steps) > FLOW_STEPS_MAX:
        return [(None, f"A flow has at most {FLOW_STEPS_MAX} steps (this one has {len(steps)}).")]
    problems: list[tuple[int | None, str]] = []
    ids = [str(step.get("id") or "") for step in steps]
    for index, step in enumerate(steps):
        step_id = str(step.get("id") or "")
        label = f"Step {index + 1} ({step_id or 'no id'})"
        errors: list[str] = []
        if not STEP_ID_PATTERN.match(step_id):
            errors.append("the id uses letters, digits, - and _ (at most 40)")
        elif ids.count(step_id) > 1:
            errors.append("another step has the same id")
        errors += _step_errors(step)
        options = step.get("options") or []
        payloads = [str(option.get("payload") or "") for option in options]
        if any(payloads.count(payload) > 1 for payload in payloads if payload):
            errors.append("two buttons have the same payload: a tap could not tell them apart")
        targets = [case.get("goto") for case in step.get("cases") or []]
        targets += [option.get("goto") for option in options]
        if step.get("default"):
            targets.append(step["default"])
        if step.get("next") and step["next"] != NEXT_END:
            targets.append(step["next"])
        errors += [f"there is no step {target!r} to go to" for target in targets if target and target not in ids]
        problems += [(index, f"{label}: {error}") for error in errors]
    return problems


def steps_validate(steps: list[dict[str, Any]]) -> list[str]:
    """Every problem of a step list, in words (empty when it can be saved)."""
    return [message for _, message in steps_problems(steps)]


# ---------------------------------------------------------------------------
# Running: where a flow goes after a step (the engine is messaging.automation)


def step_following(step: dict[str, Any], steps: list[dict[str, Any]]) -> str:
    """The id of the step after ``step``: its ``next``, else the next in the list; "" ends the flow."""
    chosen = str(step.get("next") or "")
    if chosen == NEXT_END:
        return ""
    if chosen:
        return chosen
    ids = [str(each["id"]) for each in steps]
    step_id = str(step["id"])
    position = ids.index(step_id) if step_id in ids else len(ids)
    return ids[position + 1] if position + 1 < len(ids) else ""


def step_waits_for_tap(step: dict[str, Any]) -> bool:
    """Whether a step waits for the follower's answer: an ``ask``, or buttons that lead somewhere."""
    if step.get("type") == "ask":
        return True
    return step.get("type") == "send_quick_replies" and any(option.get("goto") for option in step.get("options") or [])


def option_target(step: dict[str, Any], answer: str) -> str:
    """The step a tap (or a typed title) on one of ``step``'s buttons leads to; "" when none.

    A tap sends the button's payload; a follower who types instead types the title, so both are tried
    (the title folded for case and accents).
    """
    folded = text_fold(answer.strip()[: QUICK_REPLY_TITLE_MAX * 4])
    for option in step.get("options") or []:
        if answer == option.get("payload") or folded == text_fold(str(option.get("title") or "")):
            return str(option.get("goto") or "")
    return ""


# ---------------------------------------------------------------------------
# The builder's JSON definition: parsed strictly, so a forged body is a message and never a 500

_TEXT_FIELDS = ("id", "type", "text", "variable", "default", "next", "tag", "url")
_OPTION_FIELDS = ("title", "payload", "goto")
_CASE_FIELDS = ("match", "goto")
# The fields each type keeps (the builder may send a field of the type a step had before it changed).
_FIELDS_OF_TYPE: dict[str, tuple[str, ...]] = {
    "send_text": ("text",),
    "send_quick_replies": ("text",),
    "ask": ("text", "variable"),
    "branch": ("variable", "default"),
    "delay": ("seconds",),
    "add_tag": ("tag",),
    "webhook": ("url", "timeout", "variable"),
}


def _depth(raw: str) -> int:
    """How deeply ``raw``'s brackets nest (outside strings), counted before ``json.loads`` recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _plain_text(value: Any) -> bool:
    """Whether every string in ``value`` is text a database and Instagram take (UTF-8, no NUL)."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= char <= "\udfff" for char in value)
    if isinstance(value, list):
        return all(_plain_text(item) for item in value)
    if isinstance(value, dict):
        return all(_plain_text(key) and _plain_text(item) for key, item in value.items())
    return True


def _records(value: Any, fields: tuple[str, ...], what: str) -> tuple[list[dict[str, str]], str | None]:
    if value is None:
        return [], None
    if not isinstance(value, list) or len(value) > max(QUICK_REPLIES_MAX, BRANCH_CASES_MAX) * 2:
        return [], f"{what} is not a list"
    records = []
    for item in value:
        if not isinstance(item, dict) or any(not isinstance(item.get(field, ""), str) for field in fields):
            return [], f"{what} has an entry that is not a set of texts"
        records.append({field: item[field].strip() for field in fields if item.get(field, "").strip()})
    return records, None


def _step_from_json(item: Any) -> tuple[dict[str, Any], list[str]]:
    """One posted step with only the fields of the format, each of its type; the problems otherwise."""
    if not isinstance(item, dict):
        return {}, ["is not a step"]
    problems: list[str] = []
    step: dict[str, Any] = {}
    for field in _TEXT_FIELDS:
        value = item.get(field)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            problems.append(f"{field} is not a text")
        elif field == "text":
            step[field] = value.strip()
        else:
            step[field] = value.strip()[:1000]
    options, problem = _records(item.get("options"), _OPTION_FIELDS, "the buttons")
    problems += [problem] if problem else []
    for option in options:
        option.setdefault("title", "")
        option["payload"] = option.get("payload") or payload_from_title(option["title"])
    cases, problem = _records(item.get("cases"), _CASE_FIELDS, "the cases")
    problems += [problem] if problem else []
    kind = step.get("type")
    if kind in ("send_quick_replies", "ask") and (options or kind == "send_quick_replies"):
        step["options"] = options
    if kind == "branch":
        step["cases"] = cases
    for field, types in (("seconds", (int,)), ("timeout", (int, float))):
        value = item.get(field)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            problems.append(f"{field} is not a number")
        else:
            step[field] = value
    if kind == "webhook":
        step.setdefault("timeout", 10.0)
    used = {"id", "type", "options", "cases", *_FIELDS_OF_TYPE.get(str(kind), ())}
    if kind not in ("branch", "hand_over", "end"):  # a branch chooses with its cases; the others end
        used.add("next")
    return {field: value for field, value in step.items() if field in used}, problems


def steps_from_json(raw: str) -> tuple[list[dict[str, Any]], list[tuple[int | None, str]]]:
    """The builder's posted definition as steps, and its problems (``steps_problems``'s shape).

    Size, nesting and every value's type are checked before anything else looks at it: whatever a
    client posts gives a message, never an exception.
    """
    if len(raw) > STEPS_JSON_MAX_CHARS:
        return [], [(None, f"The flow's definition is larger than {STEPS_JSON_MAX_CHARS:,} characters.")]
    if _depth(raw) > STEPS_JSON_MAX_DEPTH:
        return [], [(None, "The flow's definition is nested deeper than a list of steps.")]
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return [], [(None, "The flow's definition is not valid JSON.")]
    if not isinstance(data, list):
        return [], [(None, "The flow's definition is not a list of steps.")]
    if not _plain_text(data):
        return [], [(None, "The flow's definition holds characters that are not text (a NUL or a lone surrogate).")]
    if len(data) > FLOW_STEPS_MAX:
        return [], [(None, f"A flow has at most {FLOW_STEPS_MAX} steps (this one has {len(data)}).")]
    steps: list[dict[str, Any]] = []
    problems: list[tuple[int | None, str]] = []
    for index, item in enumerate(data):
        step, errors = _step_from_json(item)
        steps.append(step)
        problems += [(index, f"Step {index + 1}: {error}") for error in errors]
    if problems:
        return steps, problems
    return steps, steps_problems(steps)
