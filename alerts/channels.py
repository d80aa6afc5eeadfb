"""Where alert notifications go: email, and Slack-compatible incoming webhooks (through the SSRF-hardened session).

Each function raises ``AlertChannelError`` (or the mail backend's or ``OutboundError``) when the message did
not get through; the caller records it and tries again at the next sweep. No text raised here holds the
webhook URL, which is the channel's credential.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.mail import send_mail

from instaforge.outbound import OutboundError, OutboundRefused, outbound_post

SLACK_TIMEOUT_SECONDS = 10


class AlertChannelError(Exception):
    """A channel refused or failed a message."""


def url_redacted(url: str) -> str:
    """The URL's scheme and host only: an incoming-webhook URL's path is its secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}/…"


def email_send(*, recipients: list[str], subject: str, body: str) -> None:
    send_mail(subject=subject, message=body, from_email=None, recipient_list=recipients, fail_silently=False)


def slack_post(*, url: str, text: str) -> None:
    """Post ``text`` to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Teams' Slack mode)."""
    try:
        response = outbound_post(url, json={"text": text}, timeout=SLACK_TIMEOUT_SECONDS)
    except OutboundRefused as exc:
        raise AlertChannelError(f"refused: {exc}") from None  # names the host and its address, never the path
    except OutboundError as exc:
        # requests' texts name the URL: say what happened without it.
        raise AlertChannelError(f"{type(exc).__name__} posting to {url_redacted(url)}") from None
    if not 200 <= response.status_code < 300:
        raise AlertChannelError(f"{url_redacted(url)} answered HTTP {response.status_code}")
