"""django-q2 tasks of accounts: thin wrappers over services."""

from __future__ import annotations

from accounts.services import tokens_refresh_due


def tokens_refresh() -> dict[str, int]:
    """Daily: refresh long-lived tokens well before their 60-day expiry."""
    return tokens_refresh_due()
