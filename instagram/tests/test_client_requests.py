"""The client's requests, built directly in the usual case, are byte for byte what requests itself prepares."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from instagram.client import _prepared

BASE = "https://graph.instagram.com/v26.0"


@pytest.mark.parametrize(
    ("method", "url", "params", "data", "json_body"),
    [
        ("GET", f"{BASE}/me", {"fields": "user_id,username", "access_token": "IGAA é&=+/?#"}, None, None),
        ("POST", f"{BASE}/17858893269000001/replies", {"access_token": "t"}, {"message": "Thanks! ✓ & a=b\nok"}, None),
        ("POST", f"{BASE}/17858893269000001", {"hide": "true", "access_token": "t"}, None, None),
        ("DELETE", f"{BASE}/17858893269000001", {"access_token": "t"}, None, None),
        ("POST", f"{BASE}/me/media_publish", {"creation_id": 17889615691921648, "access_token": "t"}, {}, None),
        ("POST", f"{BASE}/me/media", None, {"image_url": "https://example.com/a b.jpg", "caption": "#tag @who"}, None),
        # JSON bodies (the Send API): text beyond ASCII, nesting, numbers, booleans, None; with empty form fields.
        ("POST", f"{BASE}/me/messages", {"access_token": "t"}, None, {"recipient": {"id": "1"}, "message": {}}),
        (
            "POST",
            f"{BASE}/me/messages",
            {"access_token": "t"},
            None,
            {
                "recipient": {"id": "6900000000000001"},
                "message": {"text": 'Merci ✓ « ok » \n"quoted" 😀', "quick_replies": [{"title": "Oui", "n": 1.5}]},
                "tag": None,
                "flag": True,
            },
        ),
        ("POST", f"{BASE}/me/messages", {"access_token": "t"}, {}, {"recipient": {"comment_id": "1"}}),
        # Through requests itself: form fields and a JSON body, a URL with a query of its own, a value that is not text.
        ("POST", f"{BASE}/me/messages", {"access_token": "t"}, {"a": "b"}, {"recipient": {"id": "1"}}),
        ("GET", f"{BASE}/1/comments?after=QVFI&access_token=t", None, None, None),
        ("GET", f"{BASE}/me", {"fields": ["id", "username"]}, None, None),
    ],
)
def test_a_prepared_request_is_the_one_requests_prepares(
    method: str, url: str, params: dict[str, Any] | None, data: dict[str, Any] | None, json_body: Any
) -> None:
    ours = _prepared(method, url, params=params, data=data, json_body=json_body)
    theirs = requests.Request(method, url, params=params, data=data, json=json_body).prepare()
    assert (ours.method, ours.url, ours.body) == (theirs.method, theirs.url, theirs.body)
    assert dict(ours.headers) == dict(theirs.headers)
