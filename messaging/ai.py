"""AI replies and classification through any OpenAI-compatible endpoint (``POST {base}/v1/chat/completions``).

Off by default, configured per workspace (``MessagingSettings``); the API key
is encrypted at rest with the token vault. Any failure (timeout, HTTP error,
unreadable answer, blocked word) raises ``AIUnavailable`` with the reason,
and callers fall back to a template.
"""

from __future__ import annotations

from typing import Any

from accounts.vault import TokenDecryptionError, token_decrypt
from engagement.matching import any_keyword_matches, keyword_list_parse
from instaforge.outbound import OutboundError, OutboundTimeout, outbound_post
from instagram.limits import message_text_clip
from messaging.models import Intent, MessagingSettings


class AIUnavailable(Exception):
    """No usable AI answer; the message says why."""


def completions_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/chat/completions"


def _chat(*, config: MessagingSettings, messages: list[dict[str, str]], max_tokens: int) -> str:
    if not config.ai_base_url or not config.ai_model:
        raise AIUnavailable("no AI endpoint or model is configured")
    headers = {"Content-Type": "application/json"}
    if config.ai_api_key_encrypted:
        try:
            headers["Authorization"] = f"Bearer {token_decrypt(ciphertext=config.ai_api_key_encrypted)}"
        except TokenDecryptionError as exc:
            raise AIUnavailable(f"the API key cannot be decrypted: {exc}") from exc
    body = {"model": config.ai_model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.3}
    try:
        response = outbound_post(
            completions_url(config.ai_base_url), json=body, headers=headers, timeout=config.ai_timeout_seconds
        )
    except OutboundTimeout as exc:
        raise AIUnavailable(f"the AI endpoint did not answer within {config.ai_timeout_seconds:g} s") from exc
    except OutboundError as exc:
        raise AIUnavailable(f"the AI endpoint cannot be reached: {exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise AIUnavailable(f"the AI endpoint answered HTTP {response.status_code}")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise AIUnavailable("the AI endpoint's answer has no choices[0].message.content") from exc
    if not isinstance(content, str) or not content.strip():
        raise AIUnavailable("the AI endpoint answered with an empty message")
    return content.strip()


def ai_reply_generate(*, config: MessagingSettings, context: dict[str, Any]) -> str:
    """An answer to the last message, within the length limit and free of blocked words (else ``AIUnavailable``)."""
    system = config.ai_system_prompt.strip()
    if config.ai_brand_facts.strip():
        system += "\n\nFacts about the brand (use only these):\n" + config.ai_brand_facts.strip()
    system += f"\n\nAnswer in at most {config.ai_max_length} characters."
    if context.get("comments"):
        system += "\n\nThis person earlier commented on our posts: " + " | ".join(context["comments"])
    messages = [{"role": "system", "content": system}]
    for item in context.get("messages", []):
        if item.get("text"):
            messages.append({"role": "user" if item["direction"] == "in" else "assistant", "content": item["text"]})
    if len(messages) == 1:
        messages.append({"role": "user", "content": str(context.get("text") or "")})
    reply = _chat(config=config, messages=messages, max_tokens=max(16, config.ai_max_length // 2))
    blocked = any_keyword_matches(keywords=keyword_list_parse(config.ai_blocked_words), text=reply)
    if blocked:
        raise AIUnavailable(f"the AI reply contains the blocked word {blocked!r}")
    if len(reply) > config.ai_max_length:
        cut = reply[: config.ai_max_length].rsplit(" ", 1)[0].rstrip(",;: ")
        reply = cut + "…" if cut else reply[: config.ai_max_length]
    return message_text_clip(reply)


def ai_intent_classify(*, config: MessagingSettings, text: str) -> str:
    """The intent the model names for ``text`` (one of ``Intent``), or ``AIUnavailable``."""
    labels = ", ".join(Intent.values)
    answer = _chat(
        config=config,
        messages=[
            {
                "role": "system",
                "content": f"Classify the Instagram DM into exactly one of: {labels}. Answer with the label only.",
            },
            {"role": "user", "content": text},
        ],
        max_tokens=5,
    )
    label = answer.strip().strip(".").lower()
    if label not in Intent.values:
        raise AIUnavailable(f"the classifier answered {answer[:40]!r}, not one of the intents")
    return label
