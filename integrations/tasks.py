"""django-q2 tasks of CRM webhooks: thin, idempotent, by id."""

from __future__ import annotations

from integrations.services import webhook_deliveries_retry, webhook_delivery_attempt


def webhook_delivery_attempt_task(delivery_id: int) -> str:
    return webhook_delivery_attempt(delivery_id=delivery_id)


def webhook_deliveries_retry_task() -> dict[str, int]:
    """Every minute: attempts whose backoff has passed, and attempts a dead worker left behind."""
    return webhook_deliveries_retry()
