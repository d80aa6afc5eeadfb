"""The spam signals of a comment's text: phrases (case and accents ignored), links, mass tagging."""

from __future__ import annotations

import pytest

from engagement.spam import spam_reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FREE FOLLOWERS here", "spam phrase “free followers”"),
        ("Chéck my prófile 🔥", "spam phrase “check my profile”"),
        ("best deals https://example.com/x?y=1", "a link (https://example.com/x?y=1)"),
        ("go to bit.ly/abc", "a link (bit.ly/abc)"),
        ("@a @b.c @d_e @f", "4 accounts tagged at once"),
        ("Love this! @friend you need it", ""),
        ("@a @b @c three friends", ""),
        ("write to me at hello@bakery", ""),
        ("Is it 3.50 or 4.00?", ""),
        ("cryptography class next week", ""),
        ("", ""),
    ],
)
def test_spam_reason(text: str, reason: str) -> None:
    assert spam_reason(text=text) == reason
