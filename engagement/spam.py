"""Spam signals in a comment or message: promotion phrases, links, mass tagging.

Pure functions, no database. The phrases are the same list the DM pipeline
classifies as the "spam" intent (``messaging.analysis``); comments add two
signals that DMs do not need: a link (Instagram does not make links in
comments clickable, so one is almost always promotion) and tagging many
people at once. Matching ignores case and accents (``engagement.matching``).

The text is a stranger's: the patterns run on RE2 (linear time, whatever the
text) over at most the longest comment Instagram accepts.
"""

from __future__ import annotations

import re2

from engagement.matching import TEXT_MAX_LENGTH, any_keyword_matches

SPAM_PHRASES = [
    "free followers",
    "buy followers",
    "crypto",
    "bitcoin",
    "investment opportunity",
    "click this link",
    "promote your page",
    "dm for promo",
    "earn money",
    "forex",
    "check my profile",
    "check my page",
    "check my bio",
    "send pic",
]
# Tagging this many accounts in one comment reads as mass tagging, not a friend being shown a post.
MASS_TAGS = 4
_LINK = re2.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ly|me|co|xyz|link|shop|site|info|biz)(?:/\S*)?\b"
)
# "@name" not preceded by a word character or a dot (an e-mail address is no tag). RE2 has no
# look-behind: the character before is matched instead (``\pL\pN_`` is Python's Unicode ``\w``).
# ``+``, not ``{1,30}`` (a username's longest): only the tags are counted, and a name's length changes no
# count, while thirty copies of these Unicode classes made a program of ~42,000 instructions: 3.5 MiB in
# every process that imports this module, and on each search a DFA that RE2 gave up on ("DFA out of
# memory" on standard error) after taking 7 MiB more (issue 23). Now 0.4 MiB.
_TAG = re2.compile(r"(?:^|[^\pL\pN_.])(@[\pL\pN_.]+)")


def spam_reason(*, text: str) -> str:
    """Why ``text`` looks like spam ("a link (bit.ly/x)"), or "" when it does not."""
    text = text[:TEXT_MAX_LENGTH]
    phrase = any_keyword_matches(keywords=SPAM_PHRASES, text=text)
    if phrase:
        return f"spam phrase “{phrase}”"
    link = _LINK.search(text)
    if link:
        return f"a link ({link.group(0)[:60]})"
    tags = _TAG.findall(text)
    if len(tags) >= MASS_TAGS:
        return f"{len(tags)} accounts tagged at once"
    return ""
