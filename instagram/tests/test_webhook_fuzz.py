"""Hostile webhook bodies, headers and query strings: 200, 400 or 403, never a 500, never a row unsigned.

Issue 18 (finding 3): signed bodies with ``time`` as 1e309, NaN, Infinity or a
year past 9999, ``changes``/``messaging``/``standby`` that are not lists,
nesting 1,000 levels deep, NaN or Infinity in a value, lone surrogates, NUL
and ids longer than their columns answered 500, and so did a non-ASCII byte in
``X-Hub-Signature-256``. The explicit tests below each failed on that code;
the property test sends 1,000 bodies built from Meta's documented examples
(``fixtures/meta``) with their values replaced by hostile ones, arbitrary JSON
and arbitrary bytes, and runs what gets stored through the handlers (the
suite's tasks run inline).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import InstagramAccount, Workspace
from engagement.models import Comment, CommentRule
from instagram.models import InboundEvent, InboundEventState
from instagram.parsing import meta_time_parse
from instagram.services import MAX_NESTING_DEPTH, UPSERT_BATCH_ROWS
from instagram.signatures import signature_for, signature_is_valid
from messaging.models import Message

FIXTURES = Path(__file__).parent / "fixtures" / "meta"
URL = "/webhooks/instagram/"
ACCOUNT_IDS = ("17841405822304914", "17841400000000777")


def documented_deliveries() -> list[dict[str, Any]]:
    documents = []
    for path in sorted(FIXTURES.glob("webhook_*.json")):
        document = json.loads(path.read_bytes())
        if isinstance(document, dict) and "entry" in document:
            documents.append(document)
    return documents


DOCUMENTS = documented_deliveries()


def fresh_entry(*, entry_id: str = ACCOUNT_IDS[0], mid: str = "m-fresh", **fields: Any) -> dict[str, Any]:
    """A recent messaging entry in Meta's documented shape, with ``fields`` replacing the entry's own."""
    return {
        "id": entry_id,
        "time": int(time.time() * 1000),
        "messaging": [
            {
                "sender": {"id": "1234567890123456"},
                "recipient": {"id": entry_id},
                "timestamp": int(time.time() * 1000),
                "message": {"mid": mid, "text": "hello"},
            }
        ],
        **fields,
    }


def delivery(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"object": "instagram", "entry": list(entries)}).encode()


def post_signed(client: Client, body: bytes, **headers: str):
    signature = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
    return client.post(
        URL, data=body, content_type="application/json", headers={"X-Hub-Signature-256": signature, **headers}
    )


def row_counts() -> dict[str, int]:
    """Rows of every table a model owns (the project's, Django's, django-q2's), in one query."""
    tables = sorted({model._meta.db_table for model in apps.get_models()})
    quote = connection.ops.quote_name
    counts = ", ".join(f"(SELECT COUNT(*) FROM {quote(table)})" for table in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        return dict(zip(tables, cursor.fetchone(), strict=True))


# ---------------------------------------------------------------------------
# Each class of the finding, once


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"object": "instagram", "entry": [{"id": "1", "time": 1e309, "changes": []}]}', id="time-1e309"),
        pytest.param(b'{"object": "instagram", "entry": [{"id": "1", "time": NaN, "changes": []}]}', id="time-NaN"),
        pytest.param(b'{"object": "instagram", "entry": [{"id": "1", "time": Infinity}]}', id="time-Infinity"),
        pytest.param(b'{"object": "instagram", "entry": [{"id": "1", "time": -Infinity}]}', id="time-minus-Infinity"),
        pytest.param(
            b'{"object": "instagram", "entry": [{"id": "1", "changes": [{"field": "x", "value": NaN}]}]}',
            id="NaN-in-a-value",
        ),
        pytest.param(
            b'{"object": "instagram", "entry": [{"id": "1", "changes": [{"field": "x", "value": [Infinity]}]}]}',
            id="Infinity-in-a-value",
        ),
        pytest.param(
            b'{"object": "instagram", "entry": [{"id": "1", "changes": [{"field": "x", "value": '
            + b"[" * 1000
            + b"]" * 1000
            + b"}]}]}",
            id="nesting-1000",
        ),
        pytest.param(
            b'{"object": "instagram", "entry": [{"id": "1", "changes": [{"field": "x", "value": '
            + b'{"a":' * (MAX_NESTING_DEPTH + 1)
            + b"1"
            + b"}" * (MAX_NESTING_DEPTH + 1)
            + b"}]}]}",
            id="nesting-past-the-limit",
        ),
        pytest.param(b'{"object": "instagram", "entry": [{"id": 1' + b"0" * 5000 + b"}]}", id="int-of-5000-digits"),
        pytest.param(b'{"object": "instagram", "entry": [{"id": "\xed\xa0\x80"}]}', id="surrogate-as-raw-bytes"),
        pytest.param(b'{"object": "instagram", "entry": [{"id": "\xff"}]}', id="not-utf-8"),
        pytest.param(b'{"object": "\\u0000", "entry": []}', id="NUL-in-object"),
        pytest.param(b'{"object": ' + b'"' + b"i" * 41 + b'", "entry": []}', id="object-longer-than-its-column"),
    ],
)
def test_a_signed_body_that_is_not_strict_json_is_400_and_stores_nothing(client: Client, body: bytes) -> None:
    assert post_signed(client, body).status_code == 400
    assert not InboundEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_fields",
    [
        pytest.param({"time": 64060588800}, id="time-in-year-4000"),
        pytest.param({"time": 253402300800000}, id="time-in-year-10000-in-milliseconds"),
        pytest.param({"time": 10**30}, id="time-beyond-any-float-year"),
        pytest.param({"time": -1}, id="time-before-1970"),
        pytest.param({"time": "1569262486134"}, id="time-as-text"),
        pytest.param({"time": True}, id="time-as-boolean"),
        pytest.param({"changes": 5}, id="changes-an-int"),
        pytest.param({"changes": {"field": "comments"}}, id="changes-an-object"),
        pytest.param({"changes": "comments"}, id="changes-a-string"),
        pytest.param({"messaging": 5}, id="messaging-an-int"),
        pytest.param({"messaging": "m"}, id="messaging-a-string"),
        pytest.param({"standby": {"a": 1}}, id="standby-an-object"),
        pytest.param({"id": "1" * 65}, id="id-longer-than-its-column"),
        pytest.param({"id": "1\u0000"}, id="id-with-NUL"),
        pytest.param({"id": "\ud800"}, id="id-a-lone-surrogate"),
        pytest.param({"id": ["1"]}, id="id-a-list"),
        pytest.param({"id": -5}, id="id-negative"),
    ],
)
def test_a_signed_entry_that_does_not_fit_is_skipped_and_the_others_are_stored(
    client: Client, caplog, bad_fields: dict[str, Any]
) -> None:
    """Meta retries what is not 2xx; the same bytes would fail again. The bad entry is logged, the rest kept."""
    body = delivery(fresh_entry(mid="m-bad", **bad_fields), fresh_entry(mid="m-good"))
    assert post_signed(client, body).status_code == 200
    assert list(InboundEvent.objects.values_list("dedupe_key", flat=True)) == ["message:m-good"]
    assert "Skipped webhook entry 0" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_item",
    [
        pytest.param({"sender": {"id": "1"}, "message": {"mid": "m-bad", "text": "\ud800"}}, id="lone-surrogate"),
        pytest.param({"sender": {"id": "1"}, "message": {"mid": "m-bad", "text": "a\udfffb"}}, id="low-surrogate"),
        pytest.param({"sender": {"id": "1"}, "message": {"mid": "m-bad", "text": "a\u0000b"}}, id="NUL-in-text"),
        pytest.param({"sender": {"id": "1"}, "message": {"mid": "m-bad", "\u0000": 1}}, id="NUL-in-a-key"),
        pytest.param({"sender": {"id": "1"}, "\ud83d": {"mid": "m-bad"}}, id="surrogate-in-a-key"),
        pytest.param("not an object", id="item-a-string"),
        pytest.param(7, id="item-an-int"),
    ],
)
def test_a_messaging_item_that_cannot_be_stored_is_skipped(client: Client, caplog, bad_item: Any) -> None:
    entry = fresh_entry(mid="m-good")
    entry["messaging"].insert(0, bad_item)
    # ensure_ascii (the default) writes lone surrogates as \\ud800 escapes, the way a JSON encoder would.
    assert post_signed(client, delivery(entry)).status_code == 200
    assert list(InboundEvent.objects.values_list("dedupe_key", flat=True)) == ["message:m-good"]
    assert "Skipped messaging item 0 of webhook entry 0" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_change",
    [
        pytest.param({"field": "c" * 61, "value": {}}, id="field-longer-than-its-column"),
        pytest.param({"field": 5, "value": {}}, id="field-an-int"),
        pytest.param({"field": "", "value": {}}, id="field-empty"),
        pytest.param({"field": "comments", "value": "text"}, id="comments-value-not-an-object"),
        pytest.param({"field": "comments"}, id="no-value"),
        pytest.param({"field": "comments", "value": {"id": "1", "text": "\u0000"}}, id="NUL-in-text"),
        pytest.param({"field": "comments", "value": {"id": "1", "text": "\udc00"}}, id="lone-surrogate"),
        pytest.param(["field", "value"], id="change-a-list"),
    ],
)
def test_a_change_that_cannot_be_stored_is_skipped(client: Client, caplog, bad_change: Any) -> None:
    good = {"field": "comments", "value": {"id": "17865799348089039", "text": "fine"}}
    entry = {"id": ACCOUNT_IDS[0], "time": int(time.time()), "changes": [bad_change, good]}
    assert post_signed(client, delivery(entry)).status_code == 200
    assert list(InboundEvent.objects.values_list("dedupe_key", flat=True)) == ["comments:17865799348089039"]
    assert "Skipped change 0 of webhook entry 0" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    "header",
    [
        "sha256=\u00e9" + "0" * 63,  # a non-ASCII byte, as a WSGI server hands it over (latin-1)
        "sha256=" + "\u00ff" * 64,
        "\u00e9",
        "sha256=\u2603",  # outside latin-1: only a test client can send it, still no 500
        "sha256=" + "0" * 64 + "\u0000",
        "sha256=",
        "SHA256=" + "0" * 64,
        " " * 3,
    ],
)
def test_a_malformed_signature_header_is_403_and_writes_no_row_anywhere(client: Client, header: str) -> None:
    before = row_counts()
    body = delivery(fresh_entry())
    response = client.post(URL, data=body, content_type="application/json", headers={"X-Hub-Signature-256": header})
    assert response.status_code == 403
    assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "multipart/form-data", "application/x-www-form-urlencoded", "text/plain", ""],
)
@pytest.mark.parametrize(
    "body", [b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--x--', b"a=1&b=%00", b"{}"]
)
def test_a_body_sent_as_a_form_is_never_a_500(client: Client, content_type: str, body: bytes) -> None:
    """A middleware that parses a multipart form consumes the stream: ``request.body`` then raises, not a 500."""
    signature = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
    for header, allowed in ((signature, {400}), ("sha256=" + "0" * 64, {400, 403})):
        response = client.post(URL, data=body, content_type=content_type, headers={"X-Hub-Signature-256": header})
        assert response.status_code in allowed
    assert not InboundEvent.objects.exists()


def test_the_signature_check_never_raises() -> None:
    secret = "s3cret"
    body = b"{}"
    good = signature_for(body=body, secret=secret)
    assert signature_is_valid(body=body, header=good, secret=secret)
    for header in (None, "", good + "\u00e9", "\u00e9" + good[1:], good.upper(), good[:-1], good + "0", "\ud800"):
        assert not signature_is_valid(body=body, header=header, secret=secret)


@pytest.mark.django_db(transaction=True)
def test_an_unsigned_hostile_body_writes_no_row_in_any_table(client: Client, make_account, workspace) -> None:
    make_account(workspace, ig_user_id=ACCOUNT_IDS[0])
    before = row_counts()
    for body in (delivery(fresh_entry()), b"[" * 5000, b"\xff\xfe", b'{"entry": [{"time": NaN}]}'):
        for headers in ({}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, {"X-Hub-Signature-256": "\u00e9"}):
            response = client.post(URL, data=body, content_type="application/json", headers=headers)
            assert response.status_code == 403
    assert row_counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("hub.mode=subscribe&hub.challenge=42&hub.verify_token={token}", 200),
        ("hub.mode=subscribe&hub.verify_token={token}", 400),
        ("hub.mode=subscribe&hub.challenge=%00&hub.verify_token={token}", 400),
        ("hub.mode=subscribe&hub.challenge=" + "9" * 300 + "&hub.verify_token={token}", 400),
        ("hub.mode=subscribe&hub.challenge=42&hub.verify_token=%C3%A9", 403),
        ("hub.mode=subscribe&hub.challenge=42&hub.verify_token=%ED%A0%80", 403),
        ("hub.mode=subscribe&hub.challenge=42&hub.verify_token=%FF%FE", 403),
        ("hub.mode=subscribe&hub.challenge=42&hub.verify_token=%", 403),
        ("hub.mode=%00&hub.challenge=42&hub.verify_token={token}", 400),  # instaforge.middleware: no NUL anywhere
        ("hub.mode=subscribe&hub.mode=subscribe&hub.challenge=1&hub.challenge=2&hub.verify_token={token}", 200),
        ("%%%%&&&===;;", 403),
        ("", 403),
    ],
)
def test_the_verification_handshake_answers_hostile_query_strings_without_a_500(
    client: Client, query: str, status: int
) -> None:
    token = settings.INSTAGRAM_WEBHOOK_VERIFY_TOKEN
    response = client.get(URL, QUERY_STRING=query.format(token=token))
    assert response.status_code == status


@pytest.mark.django_db
def test_a_delivery_of_thousands_of_changes_is_stored_in_batches(client: Client) -> None:
    """SQLite takes at most 32,766 parameters per statement, PostgreSQL 65,535: one INSERT of 6,000 rows is more."""
    count = 6_000
    assert count > 2 * UPSERT_BATCH_ROWS
    changes = [{"field": "some_future_field", "value": number} for number in range(count)]
    body = delivery({"id": "1", "time": int(time.time()), "changes": changes})
    assert post_signed(client, body).status_code == 200
    assert InboundEvent.objects.count() == count


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_400(client: Client, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    body = delivery(*[fresh_entry(mid=f"m{number}") for number in range(20)])
    assert len(body) > 1_000
    assert post_signed(client, body).status_code == 400
    assert not InboundEvent.objects.exists()


# ---------------------------------------------------------------------------
# What is stored is processed: anything odd is a recorded outcome, never an exception


def test_meta_times_parse_safely() -> None:
    assert meta_time_parse(1569262486134) == meta_time_parse(1569262486.134)
    not_times: list[Any] = [float("nan"), float("inf"), -1, 64060588800, 253402300800000, 10**400]
    not_times += ["1e309", "nan", True, None, [], "soon"]
    for value in not_times:
        assert meta_time_parse(value) is None


@pytest.mark.django_db(transaction=True)
def test_a_comment_with_ids_longer_than_their_columns_is_recorded_malformed(
    client: Client, make_account, workspace
) -> None:
    make_account(workspace, ig_user_id=ACCOUNT_IDS[0])
    value = {"id": "1" * 65, "text": "hi", "from": {"id": "2", "username": "u"}, "media": {"id": "3"}}
    body = delivery(
        {"id": ACCOUNT_IDS[0], "time": int(time.time()), "changes": [{"field": "comments", "value": value}]}
    )
    assert post_signed(client, body).status_code == 200
    event = InboundEvent.objects.get()
    assert event.state == InboundEventState.FAILED
    assert event.outcome.startswith("malformed:")
    assert not Comment.all_workspaces.exists()


@pytest.mark.django_db(transaction=True)
def test_a_comment_with_odd_optional_values_is_stored_without_them(client: Client, make_account, workspace) -> None:
    make_account(workspace, ig_user_id=ACCOUNT_IDS[0])
    value = {
        "id": 17865799348089039,  # a number where Meta sends a string
        "text": 12,
        "from": {"id": "2" * 65, "username": "u" * 101},
        "media": {"id": ["3"], "media_product_type": "F" * 31},
        "parent_id": 10**70,
    }
    body = delivery(
        {"id": ACCOUNT_IDS[0], "time": int(time.time()), "changes": [{"field": "comments", "value": value}]}
    )
    assert post_signed(client, body).status_code == 200
    assert InboundEvent.objects.get().state == InboundEventState.PROCESSED
    comment = Comment.all_workspaces.get()
    assert (comment.ig_comment_id, comment.text, comment.from_id, comment.from_username) == (
        "17865799348089039",
        "12",
        "",
        "",
    )
    assert (comment.media_id, comment.media_product_type, comment.parent_id) == ("", "", "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("timestamp", [253402300799999, 10**30, -5, "1e309", "NaN"])
def test_a_message_with_a_time_meta_cannot_have_sent_is_stored_at_the_time_it_arrived(
    client: Client, make_account, workspace, timestamp: Any
) -> None:
    make_account(workspace, ig_user_id=ACCOUNT_IDS[0])
    entry = fresh_entry()
    entry["messaging"][0]["timestamp"] = timestamp
    before = timezone.now()
    assert post_signed(client, delivery(entry)).status_code == 200
    assert InboundEvent.objects.get().state == InboundEventState.PROCESSED
    assert before <= Message.all_workspaces.get().created_at <= timezone.now()


# ---------------------------------------------------------------------------
# The property: 1,000 bodies


class RawToken(str):
    """Text written into the body as is, not as a JSON string: tokens no encoder would write."""


RAW_TOKENS = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e309",
    "-1e400",
    "1" + "0" * 5000,
    "[" * 1000 + "]" * 1000,
    '{"a":' * 1000 + "1" + "}" * 1000,
    "[" * (MAX_NESTING_DEPTH + 2) + "]" * (MAX_NESTING_DEPTH + 2),
    "253402300800",
    "253402300800000",
    "1e20",
    "-0",
    "1.0e-400",
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"\\u0000"',
    '"\\ud83d\\ude00"',
)

HOSTILE_SCALARS = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            False,
            0,
            -1,
            2**63,
            -(2**63) - 1,
            10**30,
            1.5,
            1e308,
            "",
            "\u0000",
            "a\u0000b",
            "\ud800",
            "x\udfff",
            "\u00e9\u2603\U0001f600",
            "0" * 65,
            "9" * 201,
            "m" * 5000,
            "price",
            "17841405822304914",
            "comments",
            "messages",
            "messaging",
        ]
    ),
    st.sampled_from(RAW_TOKENS).map(RawToken),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)

JSON_VALUES = st.recursive(
    HOSTILE_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _slots(document: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) of ``document``, the document's own keys first."""
    if isinstance(document, dict):
        for key in list(document):
            yield document, key
            yield from _slots(document[key])
    elif isinstance(document, list):
        for index in range(len(document)):
            yield document, index
            yield from _slots(document[index])


@st.composite
def near_valid_documents(draw: st.DrawFn) -> Any:
    """One of Meta's documented deliveries, recent, for a connected account, with a few values made hostile."""
    document = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    now = time.time()
    for entry in document["entry"]:
        entry["time"] = int(now * 1000) if entry.get("time", 0) > 10**11 else int(now)
        entry["id"] = draw(st.sampled_from(ACCOUNT_IDS))
        for item in entry.get("messaging", []):
            item["recipient"] = {"id": entry["id"]}
            if draw(st.booleans()):
                item["timestamp"] = int(now * 1000)
    if draw(st.booleans()):  # aim at the entry's own fields, where the finding's 500s were
        entry = document["entry"][0]
        key = draw(st.sampled_from(["time", "id", "changes", "messaging", "standby", "field", "value"]))
        entry[key] = draw(JSON_VALUES)
    for _ in range(draw(st.integers(0, 4))):
        slots = list(_slots(document))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "duplicate"]))
        if action == "delete":
            del container[key]
        elif action == "wrap":
            container[key] = [container[key]]
        elif action == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[key] = draw(JSON_VALUES)
    return document


def _serialize(document: Any, *, ascii_only: bool) -> bytes:
    """JSON bytes of ``document``, each ``RawToken`` written in place of its string."""
    raws: dict[str, str] = {}

    def placeholders(value: Any) -> Any:
        if isinstance(value, RawToken):
            marker = f"__raw_{len(raws)}__"
            raws[marker] = str(value)
            return marker
        if isinstance(value, dict):
            return {key: placeholders(child) for key, child in value.items()}
        if isinstance(value, list):
            return [placeholders(child) for child in value]
        return value

    text = json.dumps(placeholders(document), ensure_ascii=ascii_only)
    for marker, raw in raws.items():
        text = text.replace(f'"{marker}"', raw)
    # Without ensure_ascii a lone surrogate has no UTF-8: written as the bytes a careless encoder would send.
    return text.encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    st.tuples(near_valid_documents(), st.booleans()).map(lambda pair: _serialize(pair[0], ascii_only=pair[1])),
    st.tuples(near_valid_documents(), st.booleans()).map(lambda pair: _serialize(pair[0], ascii_only=pair[1])),
    st.tuples(near_valid_documents(), st.booleans()).map(lambda pair: _serialize(pair[0], ascii_only=pair[1])),
    st.builds(
        lambda object_type, entries: _serialize({"object": object_type, "entry": entries}, ascii_only=True),
        st.one_of(st.just("instagram"), HOSTILE_SCALARS),
        st.lists(JSON_VALUES, max_size=4),
    ),
    JSON_VALUES.map(lambda value: _serialize(value, ascii_only=True)),
    st.binary(max_size=200),
)

# Mostly signed (those reach the parsing and the handlers); otherwise none, any latin-1 text, or a wrong HMAC.
HEADERS = st.sampled_from(["signed"] * 8 + ["none", "text", "wrong"]).flatmap(
    lambda kind: {
        "signed": st.just("signed"),
        "none": st.none(),
        "text": st.text(alphabet=st.characters(max_codepoint=255), max_size=80),
        "wrong": st.just("sha256=" + "0" * 64),
    }[kind]
)


def _processed_badly() -> list[tuple[str, str, str]]:
    """Stored events not processed to an end, or that failed with anything but a recorded malformation."""
    unfinished = InboundEvent.objects.exclude(state__in=[InboundEventState.PROCESSED, InboundEventState.IGNORED])
    return list(
        unfinished.exclude(state=InboundEventState.FAILED, outcome__startswith="malformed:").values_list(
            "field", "state", "outcome"
        )
    )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_body_or_signature_makes_the_webhook_fail(client: Client, make_account, workspace: Workspace) -> None:
    """1,000 bodies (derandomized: the same ones on every run): 200, 400 or 403; what is stored is processed."""
    accounts: list[InstagramAccount] = [make_account(workspace, ig_user_id=ig_user_id) for ig_user_id in ACCOUNT_IDS]
    for account in accounts:  # the comments' rules run too: replies, DMs and flags are planned from hostile values
        CommentRule.all_workspaces.create(
            workspace=workspace,
            account=account,
            name="price",
            keywords="price, example, comment",
            reply_templates="Thanks {username}!",
            private_reply_templates="Hi {first_name}, about {keyword}",
            action_flag=True,
        )
    statuses: dict[int, int] = {}
    check = _property(client, statuses)
    check()
    assert set(statuses) <= {200, 400, 403}
    # The run reached each answer often: the bodies are not all refused at the door.
    assert statuses.get(200, 0) > 250 and statuses.get(400, 0) > 100 and statuses.get(403, 0) > 50
    assert InboundEvent.objects.exists()


def _property(client: Client, statuses: dict[int, int]) -> Callable[[], None]:
    @hypothesis_settings(
        max_examples=1_000,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(body=BODIES, header=HEADERS)
    def check(body: bytes, header: str | None) -> None:
        signed = header == "signed" or (
            header is not None and signature_is_valid(body=body, header=header, secret=settings.INSTAGRAM_APP_SECRET)
        )
        headers: dict[str, str] = {}
        if header == "signed":
            headers["X-Hub-Signature-256"] = signature_for(body=body, secret=settings.INSTAGRAM_APP_SECRET)
        elif header is not None:
            headers["X-Hub-Signature-256"] = header
        before = None if signed else row_counts()
        response = client.post(URL, data=body, content_type="application/json", headers=headers)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if signed:
            assert response.status_code in {200, 400}, response.content
            assert _processed_badly() == []
        else:
            assert response.status_code == 403
            assert row_counts() == before

    return check
