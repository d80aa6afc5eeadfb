"""The first stages of the DM pipeline: intent (rules first, an optional AI classifier), sentiment, context.

Intent rules are keyword lists per intent, matched as whole words ignoring case
and accents (``engagement.matching``). Sentiment is VADER's compound score
(-1 … 1, ``instaforge.text.sentiment_score``), a maintained lexicon rather than
home-made word lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engagement.matching import any_keyword_matches
from engagement.models import Comment  # engagement owns comments; read only
from engagement.spam import SPAM_PHRASES
from instaforge.text import text_fold
from messaging.models import Conversation, Intent, Message

# Checked in this order: the first intent with a keyword in the message wins
# ("hi, how much is it?" is about pricing, not a greeting).
INTENT_KEYWORDS: dict[str, list[str]] = {
    Intent.SPAM: SPAM_PHRASES,  # shared with comment moderation (engagement.spam)
    Intent.COMPLAINT: [
        "terrible",
        "awful",
        "worst",
        "disappointed",
        "refund",
        "complaint",
        "unacceptable",
        "scam",
        "never again",
        "broken",
        "reclamacao",
        "pessimo",
        "horrible",
        "queja",
        "estafa",
    ],
    Intent.PRICING: [
        "price",
        "prices",
        "pricing",
        "cost",
        "how much",
        "fee",
        "discount",
        "preco",
        "precos",
        "quanto custa",
        "valor",
        "precio",
        "cuanto cuesta",
        "cuanto",
        "$",
        "€",
    ],
    Intent.SUPPORT: [
        "help",
        "problem",
        "issue",
        "not working",
        "doesn't work",
        "order",
        "delivery",
        "shipping",
        "tracking",
        "cancel",
        "account",
        "ajuda",
        "pedido",
        "entrega",
        "ayuda",
        "envio",
    ],
    Intent.GREETING: [
        "hi",
        "hello",
        "hey",
        "good morning",
        "good afternoon",
        "good evening",
        "ola",
        "oi",
        "bom dia",
        "boa tarde",
        "hola",
        "buenos dias",
        "buenas",
    ],
    Intent.QUESTION: [
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "how",
        "can you",
        "do you",
        "is it",
        "are you",
        "quando",
        "onde",
        "como",
        "qual",
        "cuando",
        "donde",
    ],
}
INTENT_ORDER = [Intent.SPAM, Intent.COMPLAINT, Intent.PRICING, Intent.SUPPORT, Intent.GREETING, Intent.QUESTION]
# A keyword hit is a confident call; more than one intent's keywords lowers it; a bare "?" is a weak hint.
CONFIDENCE_KEYWORD = 0.9
CONFIDENCE_AMBIGUOUS = 0.6
CONFIDENCE_QUESTION_MARK = 0.5
CONFIDENCE_NOTHING = 0.2


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float
    classified_by: str
    keyword: str = ""


def _keyword_in(keywords: list[str], text: str) -> str | None:
    """Like ``any_keyword_matches``, but symbols ("$") match anywhere."""
    plain = [keyword for keyword in keywords if keyword[:1].isalnum()]
    found = any_keyword_matches(keywords=plain, text=text)
    if found:
        return found
    folded = text_fold(text)
    return next((symbol for symbol in keywords if not symbol[:1].isalnum() and symbol in folded), None)


def intent_classify_rules(*, text: str) -> IntentResult:
    """The intent by keyword rules: the first intent (in ``INTENT_ORDER``) with a keyword in ``text``."""
    hits = [(intent, keyword) for intent in INTENT_ORDER if (keyword := _keyword_in(INTENT_KEYWORDS[intent], text))]
    if hits:
        intent, keyword = hits[0]
        # Greeting + question words next to a stronger intent do not make it ambiguous.
        strong = [hit for hit in hits if hit[0] not in (Intent.GREETING, Intent.QUESTION)]
        confidence = CONFIDENCE_AMBIGUOUS if len(strong) > 1 else CONFIDENCE_KEYWORD
        return IntentResult(str(intent), confidence, "rules", keyword)
    if "?" in text:
        return IntentResult(Intent.QUESTION, CONFIDENCE_QUESTION_MARK, "rules", "?")
    return IntentResult(Intent.OTHER, CONFIDENCE_NOTHING, "rules")


CONTEXT_MESSAGES = 10
CONTEXT_COMMENTS = 5


def conversation_context(*, conversation: Conversation, message: Message | None = None) -> dict[str, Any]:
    """What the generators know: the last messages, the sender's profile and their comments on the account's posts."""
    recent = list(
        Message.objects.filter(conversation=conversation, is_deleted=False)
        .order_by("-created_at", "-id")
        .values("direction", "text")[:CONTEXT_MESSAGES]
    )
    recent.reverse()
    comments = Comment.objects.filter(account_id=conversation.account_id).order_by("-received_at")
    by_sender = comments.filter(from_id=conversation.participant_igsid)
    if conversation.participant_username:
        by_sender = by_sender | comments.filter(from_username=conversation.participant_username)
    return {
        "username": conversation.participant_username,
        "name": conversation.participant_name,
        "tags": list(conversation.tags or []),
        "messages": recent,
        "comments": list(by_sender.values_list("text", flat=True)[:CONTEXT_COMMENTS]),
        "text": message.text if message is not None else "",
    }
