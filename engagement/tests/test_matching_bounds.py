"""Issue 18: matching one event costs a bounded time, whatever a tenant saves.

Before: a comment rule's regex ran on Python's backtracking ``re`` (``(a+)+$``
against 40 "a"s and a "!" held a worker until django-q2 killed it), and a
keyword list of any size was matched keyword by keyword (350,000 keywords:
1.2 s of CPU per comment). Now patterns run on RE2, lists compile once into
one RE2 set, and lists, patterns, replies and rules per account are bounded.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.tenancy import workspace_scope
from engagement.forms import CommentRuleForm
from engagement.matching import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX,
    KEYWORDS_MAX_CHARS,
    REGEX_MAX_PROGRAM_SIZE,
    keyword_list_parse,
    trigger_match,
)
from engagement.models import (
    COMMENT_RULES_MAX,
    TEMPLATE_VARIATIONS_MAX,
    Comment,
    CommentRule,
    CommentSettings,
    MatchMode,
)
from engagement.services import comment_rule_active_set, comment_rule_save, comment_rules_match
from engagement.spam import spam_reason
from instagram.limits import COMMENT_MAX_CHARS, MESSAGE_MAX_BYTES

EVIL_PATTERN = "(a+)+$"
EVIL_TEXT = "a" * 40 + "!"
# A comment as long as Instagram allows, of short words and punctuation (many word boundaries).
LONG_COMMENT = ("ab, " * (COMMENT_MAX_CHARS // 4 + 1))[:COMMENT_MAX_CHARS]
# Runs in the median, on a loaded 2-core CI machine: 10 ms is the bound the issue sets.
BUDGET_SECONDS = 0.010


def _largest_keyword_list() -> str:
    """As many distinct keywords as a list may hold, none of them in the texts matched below."""
    keywords = [f"kw{number:04d}x" for number in range(KEYWORDS_MAX)]
    text = ", ".join(keywords)
    assert len(text) <= KEYWORDS_MAX_CHARS and len(keywords) == KEYWORDS_MAX
    return text


def _largest_templates(max_length: int) -> str:
    return "\n".join(f"{number} " + "x" * (max_length - 3) for number in range(TEMPLATE_VARIATIONS_MAX))


def _median_seconds(run: Callable[[], Any], *, runs: int = 5) -> float:
    run()  # the first run compiles and caches each rule's matcher (once per rule version and worker)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


@pytest.fixture
def account(make_account, workspace):
    return make_account(workspace, username="bakery")


def _rule(account, **fields: Any) -> CommentRule:
    values: dict[str, Any] = {"name": "r", "keywords": "price", "reply_templates": "hi {username}"}
    values.update(fields)
    return comment_rule_save(rule=CommentRule(workspace=account.workspace, account=account, **values))


def _legacy_rule(account, **fields: Any) -> CommentRule:
    """A row saved before RE2 and the limits: written to the database without the model's validation."""
    values: dict[str, Any] = {"name": "legacy", "reply_templates": "hi"}
    values.update(fields)
    return CommentRule.all_workspaces.create(workspace=account.workspace, account=account, **values)


def _form(account, **data: Any) -> CommentRuleForm:
    values = {"name": "r", "trigger_type": "any", "scope": "all_posts", "reply_templates": "hi", "priority": 100}
    values.update(data)
    return CommentRuleForm(data=values, instance=CommentRule(account=account, workspace=account.workspace), media=[])


def test_one_comment_against_every_rule_of_a_heavy_account_takes_under_10_ms(account) -> None:
    keywords = _largest_keyword_list()
    _rule(account, name="catastrophic regex", trigger_type="regex", keywords=EVIL_PATTERN)  # RE2 runs it linearly
    _rule(account, name="nested regex", trigger_type="regex", keywords="(a|aa)+$|(a*)*b|(.*a){12}x")
    _legacy_rule(account, name="back-reference", trigger_type="regex", keywords=r"^(a+)\1$")  # RE2 refuses it
    _legacy_rule(account, name="look-behind", trigger_type="regex", keywords=r"(?<!b)(a+)+$")
    for number in range(8):
        _rule(
            account,
            name=f"largest list {number}",
            trigger_type="all" if number % 2 else "any",
            keywords=keywords,
            reply_templates=_largest_templates(COMMENT_MAX_CHARS),
            private_reply_templates=_largest_templates(MESSAGE_MAX_BYTES),
        )
    _rule(account, name="phrase", trigger_type="phrase", keywords="ab ab ab ab ab ab ab c")
    _rule(account, name="emoji", trigger_type="emoji_only", keywords="")
    rules = list(CommentRule.all_workspaces.filter(account=account, is_active=True).order_by("priority", "id"))
    assert len(rules) == 14
    settings = CommentSettings(account=account, workspace=account.workspace, match_mode=MatchMode.ALL)

    for text in (EVIL_TEXT, LONG_COMMENT, "a" * COMMENT_MAX_CHARS + "!"):
        comment = Comment(account=account, workspace=account.workspace, text=text, from_id="fan")

        def match_all(comment: Comment = comment) -> list[tuple[CommentRule, str]]:
            return comment_rules_match(account=account, comment=comment, rules=rules, settings=settings)

        matched = {rule.name for rule, _ in match_all()}
        assert "back-reference" not in matched and "look-behind" not in matched  # never match, never crash
        assert ("catastrophic regex" in matched) is text[:COMMENT_MAX_CHARS].endswith("a")  # longer texts are cut
        assert _median_seconds(match_all) < BUDGET_SECONDS, f"matching {len(text)} characters took too long"


def test_a_list_saved_before_the_limits_is_matched_within_them() -> None:
    """350,000 keywords (the issue's example): only the first ones within the limits are read."""
    keywords = ", ".join(f"word{number}" for number in range(350_000))
    kept = keyword_list_parse(keywords)
    assert len(kept) <= KEYWORDS_MAX and len(", ".join(kept)) <= KEYWORDS_MAX_CHARS
    assert trigger_match(trigger_type="any", keywords=keywords, text="hello word7 there") == "word7"
    assert trigger_match(trigger_type="any", keywords=keywords, text="word349999") is None  # past the cut

    def match() -> str | None:
        return trigger_match(trigger_type="any", keywords=keywords, text=LONG_COMMENT)

    assert _median_seconds(match) < BUDGET_SECONDS


def test_a_keyword_cut_by_the_limit_is_left_out_not_shortened() -> None:
    keywords = "a" * (KEYWORDS_MAX_CHARS - 5) + ", supercalifragilistic"
    assert keyword_list_parse(keywords) == []  # the first is too long a keyword, the second cut: neither is used
    assert trigger_match(trigger_type="any", keywords=keywords, text="super") is None


def test_re2_keeps_the_meaning_of_whole_word_keywords() -> None:
    cases = [
        ("$5", "only $5!", "$5"),
        ("$5", "only a$5", None),
        ("e-mail", "send an E-MAIL", "e-mail"),
        ("e-mail", "e-mails", None),
        ("how much", "how much?", "how much"),
        ("how much", "how  much", None),
        ("ação", "uma ACAO", "ação"),
        ("🥐", "a 🥐🥐 please", "🥐"),
    ]
    for keyword, text, expected in cases:
        assert trigger_match(trigger_type="any", keywords=keyword, text=text) == expected, (keyword, text)
    assert trigger_match(trigger_type="any", keywords="ab", text="a\x02\x01b") is None  # a text cannot forge marks


def test_a_legacy_pattern_re2_cannot_run_never_matches_is_logged_and_shown(
    client, make_user, make_workspace, make_account, caplog
) -> None:
    owner = make_user()
    account = make_account(make_workspace(owner=owner), username="bakery")
    rule = _legacy_rule(account, trigger_type="regex", keywords=r"(?<=price)\s+(\d)\1")
    comment = Comment(account=account, workspace=account.workspace, text="price 11", from_id="fan")
    with caplog.at_level(logging.WARNING, logger="engagement.matching"), workspace_scope(account.workspace):
        assert comment_rules_match(account=account, comment=comment, rules=[rule]) == []
    assert "never matches" in caplog.text
    assert "Look-ahead and look-behind" in rule.trigger_problem
    # The member sees it on the account page and the rule's form; and can still switch the rule off.
    client.force_login(owner)
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'data-testid="rule-trigger-problem"' in page
    page = client.get(reverse("rule_edit", args=[account.pk, rule.pk])).content.decode()
    assert "not supported" in page
    comment_rule_active_set(rule=rule, active=False)
    rule.refresh_from_db()
    assert rule.is_active is False


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(\w+) \1", "Back-references (\\1, \\2…) are not supported"),
        (r"price(?= now)", "Look-ahead and look-behind"),
        (r"(?<!no )price", "Look-ahead and look-behind"),
        ("(ab|cd){300}x", "This regular expression is too complex"),
        (r"\w{500}", "This regular expression is too complex"),
        ("x" * 501, "A regular expression is at most 500 characters."),
    ],
)
def test_the_form_refuses_a_pattern_re2_cannot_run_in_bounded_time(account, pattern: str, message: str) -> None:
    form = _form(account, trigger_type="regex", keywords=pattern)
    assert not form.is_valid()
    assert message in " ".join(map(str, form.errors["keywords"]))


def test_a_pattern_within_the_program_size_is_accepted(account) -> None:
    form = _form(account, trigger_type="regex", keywords=r"\b(price|cost|how much|quanto custa|precio)\b")
    assert form.is_valid(), form.errors
    assert REGEX_MAX_PROGRAM_SIZE >= 100


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        (", ".join(f"k{number}" for number in range(KEYWORDS_MAX + 1)), f"at most {KEYWORDS_MAX} keywords"),
        ("price, " + "y" * (KEYWORD_MAX_LENGTH + 1), f"A keyword is at most {KEYWORD_MAX_LENGTH} characters"),
        (", ".join(["abcdefghijklmnopqrstuvwxyz"] * 90), f"at most {KEYWORDS_MAX_CHARS:,} characters"),
    ],
)
def test_the_form_refuses_a_keyword_list_past_the_limits(account, keywords: str, message: str) -> None:
    form = _form(account, trigger_type="any", keywords=keywords)
    assert not form.is_valid()
    assert message in " ".join(map(str, form.errors["keywords"]))


def test_the_form_refuses_too_many_reply_variations(account) -> None:
    form = _form(account, reply_templates="\n".join(f"reply {n}" for n in range(TEMPLATE_VARIATIONS_MAX + 1)))
    assert not form.is_valid()
    assert f"At most {TEMPLATE_VARIATIONS_MAX} variations" in " ".join(map(str, form.errors["reply_templates"]))


def test_the_database_refuses_a_list_past_the_limit(account) -> None:
    """Code that skips the model's validation cannot store what matching would have to cut."""
    with pytest.raises(IntegrityError), transaction.atomic():
        _legacy_rule(account, keywords=", ".join(f"word{number}" for number in range(1_000)))
    with pytest.raises(IntegrityError), transaction.atomic():
        _legacy_rule(account, keywords="price", reply_templates="x\n" * 30_000)


def test_an_account_has_a_bounded_number_of_active_rules(account) -> None:
    CommentRule.all_workspaces.bulk_create(
        CommentRule(workspace=account.workspace, account=account, name=f"r{n}", keywords="price", reply_templates="hi")
        for n in range(COMMENT_RULES_MAX)
    )
    with pytest.raises(ValidationError) as error:
        _rule(account, name="one too many")
    assert f"at most {COMMENT_RULES_MAX} active comment rules" in error.value.message_dict["is_active"][0]
    assert _rule(account, name="switched off", is_active=False).pk is not None


def test_spam_checks_run_on_re2_with_the_same_meaning() -> None:
    assert spam_reason(text="@a @b.c @d_e @f") == "4 accounts tagged at once"
    assert spam_reason(text="é@a @b @c @d") == ""  # "é@a" is no tag: a word character stands before the @
    assert spam_reason(text="write to me at hello@bakery") == ""
    started = time.perf_counter()
    # Many word starts before no ".com": quadratic for a backtracking engine on an uncut text.
    assert spam_reason(text="a-" * 5_000) == ""
    assert time.perf_counter() - started < 0.05
