"""No request makes a page of the web app fail (issue 18, finding 4): a fuzz of every URL pattern.

A workspace owner with realistic data (an account, a comment rule and a comment,
a conversation, a flow with a version, a DM rule, a scheduled post, a CRM
endpoint and a delivery, an action) is logged in. Every URL pattern of the web
app (``get_resolver()``, without Django's admin and Meta's webhook receiver,
which has its own tests) is filled with the workspace's real ids, another
workspace's ids and ids no row has, then:

- GET with hostile query strings on every parameter a view reads (dates at
  the ends of ``datetime``'s range, huge and negative numbers, digits that are
  not ASCII, NUL bytes, bytes that are not UTF-8, very long values);
- POST of every form found on the pages, as the page renders it (valid), then
  each field replaced in turn with a hostile value, then every field hostile at
  once, then formset management-form garbage, and files: a PNG whose header
  claims 30000×30000 pixels (Pillow's decompression bomb), truncated images and
  videos, text posing as an image, CSVs with a 200,000-character cell, a NUL,
  another encoding, too many rows.

Every response must be one a browser can show (200, redirects, 4xx), never a 500.
Hypothesis drives the free text in a second test, with a derandomized profile.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings, strategies
from PIL import Image

from accounts.models import Invitation, Membership, Workspace
from accounts.tenancy import workspace_scope
from actions.services import action_plan
from engagement.models import Comment, CommentRule, ReviewState
from integrations.models import WebhookDelivery
from integrations.services import endpoint_create
from messaging.automation import flow_save
from messaging.models import Conversation, DmRule, Flow
from publishing.mediainfo import mp4_build
from publishing.services import Upload, media_url_sign, post_create

# What a browser may be answered: content, redirects, refusals. Never a server error.
ALLOWED = {200, 201, 204, 301, 302, 303, 400, 403, 404, 405, 409, 413, 422}
# The readiness probe answers 503 when a check fails (observability/readiness.py).
READINESS_ROUTES = frozenset({"readyz"})
# CPU one request may cost (this process's, so a busy machine does not count): the biggest legitimate page,
# a flow of FLOW_STEPS_MAX steps, renders in well under a second; a forged formset must not cost more.
CPU_SECONDS_MAX = 3.0
# Django's admin is not the web app, and Meta's webhook receiver (HMAC-checked) is fuzzed in instagram/tests.
SKIPPED_PREFIXES = ("admin/", "webhooks/")
# The session ends there: fuzzed once, after every other page.
LAST_NAMES = ("account_logout",)
# Query parameters the views read (all of ``request.GET`` across the apps' views, and allauth's ``next``).
QUERY_KEYS = (
    *("date", "view", "state", "q", "assigned", "page", "code", "error", "error_description", "next", "token"),
    # The list pages' date range, page size, keyset cursors and CSV export (instaforge.lists).
    *("from", "to", "size", "older", "newer", "format"),
)
# Values that broke, or could break, a view that trusts its input.
HOSTILE: list[str | bytes] = [
    "9999-12-31",
    "9999-12-15",
    "0001-01-01",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2024-02-30",
    "-1",
    "0",
    "99999999999999999999",
    "1e308",
    "NaN",
    "²",
    "١٢",
    "abc",
    "",
    "\x00",
    "a\x00b",
    "x" * 100_000,
    "9" * 5000,  # int() refuses more than 4,300 digits
    "🙂" * 3000,
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "%s%n{0}{{x}}",
    "../../../etc/passwd",
    "[]",
    b"\xed\xa0\x80",  # a lone surrogate (U+D800) as raw UTF-8 bytes
    b"\xff\xfe\x00",  # not UTF-8 at all
]
FIELDS_PER_FORM_MAX = 20
MANAGEMENT_GARBAGE = ["abc", "-1", "100000", "", "1e3", "\x00", "99999999999999999999"]


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width``×``height`` pixels, with one tiny IDAT: Pillow reads the size first."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def _jpeg(width: int = 1080, height: int = 1080) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose SOF0 marker is rewritten to claim another size."""
    data = bytearray(_jpeg(16, 16))
    marker = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, marker + 5, height, width)
    return bytes(data)


JPEG = _jpeg()
MEDIA_FILES: dict[str, bytes] = {
    "bomb.png": _png_header(30_000, 30_000),
    "bomb.jpg": _jpeg_claiming(30_000, 30_000),
    "warning.jpg": _jpeg_claiming(10_000, 10_000),  # above Pillow's warning threshold, under its error
    "truncated.jpg": JPEG[:200],
    "header-only.jpg": JPEG[:2],
    "zero.png": _png_header(0, 0),
    "text.jpg": b"this is not an image",
    "empty.jpg": b"",
    "truncated.mp4": mp4_build(width=1080, height=1920, seconds=10)[:60],
    "garbage.mp4": b"\x00\x00\x00\x18ftypisom" + b"\x00\x00\x00\x10mvhd" + b"\x01" * 8,
    "zero-scale.mp4": mp4_build(width=1080, height=1920, seconds=10, timescale=0),
    "text.mp4": b"not a video",
}


def _csv_files(username: str) -> dict[str, bytes]:
    head = "account,kind,media,caption,scheduled_at\n"
    row = f"{username},image,photo.jpg"
    return {
        "big-cell.csv": (head + f"{row},{'x' * 200_000},\n").encode(),
        "nul.csv": (head + f"{row},a\x00b,\n").encode(),
        "nul-header.csv": ("acc\x00ount,kind,media\n" + f"{row}\n").encode(),
        "latin1.csv": (head + f"{row},Café crème,\n").encode("latin-1"),
        "utf16.csv": (head + f"{row},hello,\n").encode("utf-16"),
        "bom.csv": ("\ufeff" + head + f"{row},hello,\n").encode(),
        "far-future.csv": (head + f"{row},hello,9999-12-31 23:59\n").encode(),
        "far-future-offset.csv": (head + f"{row},hello,9999-12-31T23:59-05:00\n").encode(),
        "year-one.csv": (head + f"{row},hello,0001-01-01 00:00\n").encode(),
        "impossible-day.csv": (head + f"{row},hello,2030-02-30 10:00\n").encode(),
        "unterminated-quote.csv": (head + f'{row},"never closed\n').encode(),
        "extra-cells.csv": (head + f"{row},a,,b,c,d\n").encode(),
        "header-only.csv": head.encode(),
        "too-many-rows.csv": (head + f"{row},hello,\n" * 600).encode(),
        "binary.csv": bytes(range(256)) * 4,
        "empty.csv": b"",
    }


# ---------------------------------------------------------------------------
# The pages' forms, as a browser sees them


@dataclass
class PageForm:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    """The forms of a page and the values a browser would submit without the member touching anything."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[PageForm] = []
        self._form: PageForm | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._select_first: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs_list: list[tuple[str, str | None]]) -> None:
        attrs = {key: value or "" for key, value in attrs_list}
        if tag == "form":
            self._form = PageForm(action=attrs.get("action", ""), method=attrs.get("method", "get").lower())
            self.forms.append(self._form)
            return
        if self._form is None or (not attrs.get("name") and tag != "option"):
            return
        name = attrs.get("name", "")
        if tag == "input":
            kind = attrs.get("type", "text").lower()
            if kind == "file":
                self._form.files.append(name)
            elif kind in {"checkbox", "radio"}:
                if "checked" in attrs:
                    self._form.fields.append((name, attrs.get("value", "on")))
            elif kind not in {"submit", "button", "image", "reset"}:
                self._form.fields.append((name, attrs.get("value", "")))
        elif tag == "textarea":
            self._textarea, self._text = name, ""
        elif tag == "select":
            self._select, self._select_value, self._select_first = name, None, None
        elif tag == "option" and self._select is not None:
            value = attrs.get("value", "")
            if self._select_first is None:
                self._select_first = value
            if "selected" in attrs:
                self._select_value = value

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._form is not None and self._textarea is not None:
            self._form.fields.append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None
        elif tag == "select" and self._form is not None and self._select is not None:
            value = self._select_value if self._select_value is not None else self._select_first
            if value is not None:
                self._form.fields.append((self._select, value))
            self._select = None


def page_forms(html: str, page: str) -> list[PageForm]:
    parser = _FormParser()
    parser.feed(html)
    for form in parser.forms:
        form.action = urlsplit(urljoin(page, form.action or page)).path
    return [form for form in parser.forms if form.method == "post"]


# ---------------------------------------------------------------------------
# The URL patterns


@dataclass(frozen=True)
class Route:
    name: str
    route: str  # the pattern, with <converter:name> or (?P<name>...) placeholders


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
            if text.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern):
                found.append(Route(pattern.name or text, text))

    walk(get_resolver().url_patterns, "")
    return sorted(found, key=lambda route: (route.name in LAST_NAMES, "delete" in route.name, route.name))


PLACEHOLDER = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


def fill(route: Route, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("group")
        if name == "token" and route.name == "publishing_media_signed":
            name = "signed"
        if name == "rule_id" and route.name.startswith("dm_rule"):
            name = "dm_rule_id"
        return values.get(name, "1")

    return "/" + PLACEHOLDER.sub(value, route.route).replace("\\", "")


# ---------------------------------------------------------------------------
# The world the fuzz runs in


@dataclass
class World:
    workspace: Workspace
    owner: Any
    real: dict[str, str]
    foreign: dict[str, str]
    csv_files: dict[str, bytes]


def _populate(workspace: Workspace, make_account: Any, owner: Any, username: str) -> dict[str, str]:
    with workspace_scope(workspace):
        return _rows(workspace, make_account, owner, username)


def _rows(workspace: Workspace, make_account: Any, owner: Any, username: str) -> dict[str, str]:
    account = make_account(workspace, time_zone="America/New_York", username=username)
    rule = CommentRule.all_workspaces.create(workspace=workspace, account=account, name="Price", keywords="price")
    comment = Comment.all_workspaces.create(
        workspace=workspace,
        account=account,
        ig_comment_id=f"c-{username}",
        from_username="jane",
        text="price?",
        review_state=ReviewState.FLAGGED,
        flagged_at=timezone.now(),
    )
    conversation = Conversation.all_workspaces.create(
        workspace=workspace, account=account, participant_igsid=f"99{account.pk:014d}", participant_username="jane"
    )
    flow, _ = flow_save(
        flow=Flow(workspace=workspace, account=account, name="Orders", trigger_kind="keyword", keywords="order"),
        steps=[
            {"id": "ask", "type": "ask", "text": "Pickup?", "variable": "mode", "options": []},
            {"id": "bye", "type": "send_text", "text": "Thanks!"},
        ],
    )
    dm_rule = DmRule.all_workspaces.create(
        workspace=workspace, account=account, name="Hi", keywords="hi", reply_templates="Hello!"
    )
    post = post_create(
        account=account,
        kind="image",
        caption="Fresh bread",
        uploads=[Upload(name="photo.jpg", stream=io.BytesIO(JPEG), size=len(JPEG))],
        scheduled_at=timezone.now() + timedelta(days=3),
    )
    endpoint = endpoint_create(workspace=workspace, url="https://crm.example.com/hook", event_kinds=["new_lead"])
    delivery = WebhookDelivery.all_workspaces.create(
        workspace=workspace, endpoint=endpoint, event_kind="new_lead", body="{}", state="failed"
    )
    action, _ = action_plan(
        account=account, action_type="comment_reply", idempotency_key=f"fuzz-{username}", payload={"text": "hi"}
    )
    invitation = Invitation.all_workspaces.create(workspace=workspace, email=f"new-{username}@example.com")
    media = post.media.get()
    return {
        "account_id": str(account.pk),
        "rule_id": str(rule.pk),
        "dm_rule_id": str(dm_rule.pk),
        "comment_id": str(comment.pk),
        "conversation_id": str(conversation.pk),
        "flow_id": str(flow.pk),
        "number": "1",
        "endpoint_id": str(endpoint.pk),
        "delivery_id": str(delivery.pk),
        "action_id": str(action.pk),
        "post_id": str(post.pk),
        "token": invitation.token,
        "media_id": str(media.pk),
        "signed": urlsplit(media_url_sign(item=media)).path.split("/")[-2],
        "filename": "media.jpg",
        "username": account.username,
    }


@pytest.fixture
def world(db: None, make_workspace: Any, make_account: Any, settings: Any, tmp_path: Any) -> World:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ACCOUNT_RATE_LIMITS = False  # allauth's throttle answers 429 to a fuzz; it is not what is tested
    workspace = make_workspace(name="Bakery")
    owner = Membership.all_workspaces.get(workspace=workspace).user
    real = _populate(workspace, make_account, owner, "bakery")
    other = make_workspace(name="Other")
    foreign = _populate(other, make_account, Membership.all_workspaces.get(workspace=other).user, "other")
    return World(workspace, owner, real, foreign, _csv_files(real["username"]))


BOGUS_IDS = ["0", "99999999999999999999"]


def _id_sets(world: World) -> Iterator[dict[str, str]]:
    yield world.foreign
    for bogus in BOGUS_IDS:
        yield {key: bogus if key.endswith("_id") or key == "number" else value for key, value in world.foreign.items()}
    yield {**world.real, "token": "%00", "signed": "%00", "filename": "%00", "username": "%00"}


# ---------------------------------------------------------------------------
# Sending


class Fuzzer:
    def __init__(self, world: World) -> None:
        self.world = world
        self.client = Client()
        self.failures: dict[tuple[str, str], str] = {}
        self.too_slow: set[str] = set()
        self.cpu_max = 0.0
        self.requests = 0

    def login(self) -> None:
        self.client = Client()
        self.client.force_login(self.world.owner)

    def send(self, route: Route, method: str, path: str, **kwargs: Any) -> Any:
        if route.name in self.too_slow:
            return None  # one request already burned the budget: the rest would only slow the suite down
        self.requests += 1
        cpu = time.process_time()
        try:
            # A savepoint per request: a database error must not poison the next requests' queries.
            with transaction.atomic():
                response = getattr(self.client, method)(path, **kwargs)
                if response.streaming:  # a CSV export runs its queries while it streams: read it all
                    b"".join(response.streaming_content)
        except Exception as exc:  # the test client re-raises what became a 500
            self._fail(route, method, path, kwargs, f"{type(exc).__name__}: {str(exc)[:200]}")
            return None
        finally:
            spent = time.process_time() - cpu
            self.cpu_max = max(self.cpu_max, spent)
            if spent > CPU_SECONDS_MAX:
                self.too_slow.add(route.name)
                self._fail(route, method, path, kwargs, f"slow: {spent:.1f} s of CPU")
        if response.status_code == 503 and route.name in READINESS_ROUTES:
            # "Not ready" is the readiness probe's answer (no dispatcher beats in a test), with the failing
            # checks named in its JSON body: its contract, not a server error.
            if "failing" not in response.json():
                self._fail(route, method, path, kwargs, "status 503 without the failing checks")
        elif response.status_code not in ALLOWED:
            self._fail(route, method, path, kwargs, f"status {response.status_code}")
        return response

    def _fail(self, route: Route, method: str, path: str, kwargs: dict[str, Any], problem: str) -> None:
        key = (route.name, problem.split(":")[0])
        if key not in self.failures:
            body = kwargs.get("data")
            shown = repr(body[:300] if isinstance(body, bytes | str) else body)[:300]
            self.failures[key] = f"{method.upper()} {path[:200]} {shown} -> {problem}"

    def post_fields(self, route: Route, path: str, fields: list[tuple[str, str | bytes]], **extra: Any) -> Any:
        return self.send(
            route,
            "post",
            path,
            data=urlencode(fields).encode(),
            content_type="application/x-www-form-urlencoded",
            **extra,
        )

    def post_multipart(self, route: Route, path: str, fields: list[tuple[str, str]], files: dict[str, Any]) -> Any:
        data: dict[str, Any] = {}
        for name, value in fields:
            data.setdefault(name, []).append(value)
        data.update(files)
        return self.send(route, "post", path, data=data)


# The values for query strings: each key gets each of them once, over as many requests as there are values
# (a NUL, refused for the whole request, is sent on its own).
QUERY_HOSTILE: list[str | bytes] = [
    "9999-12-15",
    "0001-01-01",
    "-1",
    "99999999999999999999",
    "²",
    "x" * 2000,  # a longer URL is refused by any server in front of Django
    b"\xed\xa0\x80",
    "abc",
    "",
]


def _hostile_queries() -> Iterator[str]:
    keys = [key for key in QUERY_KEYS if key != "view"]
    for shift in range(len(QUERY_HOSTILE)):
        values = [QUERY_HOSTILE[(index + shift) % len(QUERY_HOSTILE)] for index in range(len(keys))]
        yield urlencode([("view", "week" if shift % 2 else "month"), *zip(keys, values, strict=True)])


def _variants(form: PageForm) -> Iterator[list[tuple[str, str | bytes]]]:
    """The form as rendered, each field hostile in turn (rotating the values), then all at once."""
    base: list[tuple[str, str | bytes]] = list(form.fields)
    yield base
    names = list(dict.fromkeys(name for name, _ in base if name != "csrfmiddlewaretoken"))
    # Pages with dozens of alike fields (the safety limits, a long flow) are sampled, evenly and always the same.
    names = names[:: -(-len(names) // FIELDS_PER_FORM_MAX) or 1]
    # A NUL is refused for the whole request (instaforge.middleware): it would hide the field's other values.
    rotation = [value for value in HOSTILE if not (isinstance(value, str) and "\x00" in value)]
    for position, name in enumerate(names):
        hostile = rotation[position % len(rotation)]
        yield [(key, hostile if key == name else value) for key, value in base]
    for hostile in HOSTILE[::4]:
        yield [(key, hostile if key != "csrfmiddlewaretoken" else value) for key, value in base]
    if any(name.endswith("-TOTAL_FORMS") for name in names):
        for garbage in MANAGEMENT_GARBAGE:
            for adding in ([], ["add_step", "new_step_type"]):
                extra: list[tuple[str, str | bytes]] = [
                    (name, "1" if name == "add_step" else "delay") for name in adding
                ]
                yield [(key, garbage if key.endswith("-TOTAL_FORMS") else value) for key, value in base] + extra


def _file_variants(form: PageForm, world: World) -> Iterator[dict[str, Any]]:
    csv_field = "csv_file" if "csv_file" in form.files else None
    media_field = next((name for name in form.files if name != csv_field), None)
    if media_field:
        for name, content in MEDIA_FILES.items():
            files: dict[str, Any] = {media_field: [SimpleUploadedFile(name, content)]}
            if csv_field:
                row = f"account,kind,media\n{world.real['username']},image,{name}\n"
                files[csv_field] = SimpleUploadedFile("posts.csv", row.encode())
            yield files
        yield {media_field: [SimpleUploadedFile("a\x00b.jpg", JPEG)]}
    if csv_field:
        for name, content in world.csv_files.items():
            yield {
                csv_field: SimpleUploadedFile(name, content),
                **({media_field: [SimpleUploadedFile("photo.jpg", JPEG)]} if media_field else {}),
            }


# Fields the views read from request.POST themselves, without a form (buttons, selects posted alone).
LOOSE_KEYS = (*QUERY_KEYS, "time", "decision", "membership_id", "workspace_id", "reason", "scheduled_at", "form")
# Bodies of the endpoints no page renders a form for (the calendar's drag and drop sends JSON).
JSON_BODIES: dict[str, list[str]] = {
    "post_move": [
        '{"date": "9999-12-31", "time": "23:59"}',
        '{"date": "0001-01-01", "time": "00:00"}',
        '{"date": "2030-01-01", "time": "25:99"}',
        '{"date": "2030-01-01", "time": "\\u0000"}',
        '{"date": ["x"]}',
        '{"date": null}',
        "[1, 2]",
        '"just a string"',
        "{not json",
        '{"date": "2030-01-01", "time": "' + "9" * 5000 + '"}',
        "[" * 100_000,
    ]
}


@pytest.mark.slow
def test_no_page_of_the_web_app_answers_a_server_error(world: World) -> None:
    started = time.monotonic()
    fuzzer = Fuzzer(world)
    forms_by_action: dict[str, list[PageForm]] = {}
    all_routes = routes()
    names = {route.name for route in all_routes}
    assert {"post_calendar", "post_import", "post_compose", "flow_edit", "conversation_list"} <= names
    # First the pages as they are, to learn their forms.
    fuzzer.login()
    for route in all_routes:
        path = fill(route, world.real)
        response = fuzzer.send(route, "get", path)
        if response is not None and response.get("Content-Type", "").startswith("text/html"):
            for form in page_forms(response.content.decode(errors="replace"), path):
                forms_by_action.setdefault(form.action, []).append(form)
    spent: dict[str, float] = {}
    for route in all_routes:
        route_started = time.monotonic()
        fuzzer.login()
        path = fill(route, world.real)
        for other in dict.fromkeys(fill(route, ids) for ids in _id_sets(world)):
            if other != path:
                fuzzer.send(route, "get", other)
                fuzzer.send(route, "post", other)
        for query in _hostile_queries():
            fuzzer.send(route, "get", f"{path}?{query}")
        for raw_query in ("date=%ff%fe&q=%ed%a0%80&assigned=%C2%B2&state=%e2%80", "q=%00", "%00=1"):
            fuzzer.send(route, "get", path, QUERY_STRING=raw_query)
        for form in forms_by_action.get(path, []):
            for fields in _variants(form):
                fuzzer.post_fields(route, path, fields)
            for files in _file_variants(form, world):
                fuzzer.post_multipart(route, path, [item for item in form.fields if isinstance(item[1], str)], files)
        for body in JSON_BODIES.get(route.name, []):
            fuzzer.send(route, "post", path, data=body, content_type="application/json")
        for loose in ("\x00", "²", "99999999999999999999", "-1"):
            fuzzer.post_fields(route, path, [(key, loose) for key in LOOSE_KEYS])
        spent[route.name] = time.monotonic() - route_started
    elapsed = time.monotonic() - started
    slowest = sorted(spent.items(), key=lambda item: -item[1])[:8]
    print(
        f"\n{fuzzer.requests} requests in {elapsed:.1f} s (the costliest {fuzzer.cpu_max:.2f} s of CPU); "
        f"slowest pages: {[(name, round(seconds, 1)) for name, seconds in slowest]}"
    )
    report = "\n".join(sorted(fuzzer.failures.values()))
    assert not fuzzer.failures, f"{len(fuzzer.failures)} kinds of server error in {fuzzer.requests} requests:\n{report}"
    assert fuzzer.requests > 1500, "the fuzz sent fewer requests than the pages and forms call for"


# ---------------------------------------------------------------------------
# Free text from Hypothesis, into the forms that parse text themselves

FUZZ_SETTINGS = settings(
    derandomize=True,
    database=None,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Any code point, surrogates included (sent as the raw bytes a broken client would send).
ANY_TEXT = strategies.text(strategies.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@pytest.mark.slow
@FUZZ_SETTINGS
@given(text=ANY_TEXT, total=strategies.one_of(ANY_TEXT, strategies.integers().map(str)))
def test_any_text_in_the_flow_editor_and_the_composer_is_answered(world: World, text: str, total: str) -> None:
    fuzzer = Fuzzer(world)
    fuzzer.login()
    account = world.real["account_id"]
    flow = Route("flow_edit", "")
    flow_path = reverse("flow_edit", args=[world.real["flow_id"]])
    raw = _raw(text)
    steps: list[tuple[str, str | bytes]] = [
        ("account", account),
        ("name", raw),
        ("trigger_kind", "keyword"),
        ("keywords", raw),
        ("priority", "1"),
        ("steps-TOTAL_FORMS", _raw(total)),
        ("steps-INITIAL_FORMS", "0"),
        ("steps-0-type", "branch"),
        ("steps-0-id", raw),
        ("steps-0-variable", raw),
        ("steps-0-cases", raw),
        ("steps-0-options", raw),
        ("steps-0-seconds", raw),
        ("steps-0-url", raw),
        ("steps-0-ORDER", raw),
    ]
    fuzzer.post_fields(flow, flow_path, steps)
    fuzzer.post_fields(flow, flow_path, [*steps, ("add_step", "1"), ("new_step_type", raw)])
    compose = Route("post_compose", "")
    fuzzer.post_multipart(
        compose,
        reverse("post_compose"),
        [("account", account), ("kind", "image"), ("user_tags", text.replace("\x00", "")), ("scheduled_at", total)],
        {"media_files": [SimpleUploadedFile("photo.jpg", JPEG)]},
    )
    importing = Route("post_import", "")
    fuzzer.post_multipart(
        importing,
        reverse("post_import"),
        [],
        {
            "csv_file": SimpleUploadedFile("posts.csv", b"account,kind,media,caption,scheduled_at\n" + raw),
            "media_files": [SimpleUploadedFile("photo.jpg", JPEG)],
        },
    )
    calendar = Route("post_calendar", "")
    fuzzer.send(calendar, "get", reverse("post_calendar"), QUERY_STRING=urlencode({"date": raw, "view": "week"}))
    inbox = Route("conversation_list", "")
    fuzzer.send(inbox, "get", reverse("conversation_list"), QUERY_STRING=urlencode({"q": raw, "assigned": raw}))
    assert not fuzzer.failures, "\n".join(fuzzer.failures.values())


LIST_PAGES = ("comment_list", "action_list", "conversation_list", "post_list")


@pytest.mark.slow
@FUZZ_SETTINGS
@given(
    search=ANY_TEXT,
    day=strategies.one_of(ANY_TEXT, strategies.dates().map(str)),
    number=strategies.one_of(ANY_TEXT, strategies.integers().map(str)),
    cursor=strategies.one_of(ANY_TEXT, strategies.builds("{}.{}".format, strategies.integers(), strategies.integers())),
)
def test_any_search_range_page_and_cursor_on_the_list_pages_is_answered(
    world: World, search: str, day: str, number: str, cursor: str
) -> None:
    """The list pages (instaforge.lists) and their CSV exports answer any query string: a page or a 400."""
    fuzzer = Fuzzer(world)
    fuzzer.login()
    for name in LIST_PAGES:
        route = Route(name, "")
        for export in ({}, {"format": "csv"}):
            params = {"q": search, "from": day, "to": day, "page": number, "size": number, "older": cursor, **export}
            fuzzer.send(route, "get", reverse(name), QUERY_STRING=urlencode({k: _raw(v) for k, v in params.items()}))
            fuzzer.send(route, "get", reverse(name), QUERY_STRING=urlencode({"newer": _raw(cursor), "to": _raw(day)}))
    assert not fuzzer.failures, "\n".join(fuzzer.failures.values())
