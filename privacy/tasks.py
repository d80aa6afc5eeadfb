"""The data lifecycle's background tasks and schedules."""

from __future__ import annotations

from privacy.services import deletion_request_run, deletion_requests_retry


def deletion_request_run_task(request_id: int) -> str:
    """One data deletion request from Meta's callback (cross-tenant: it names an Instagram user, not a workspace)."""
    return deletion_request_run(request_id=request_id)


def deletion_requests_retry_task() -> int:
    """Every few minutes: the data deletion requests still pending (a failed, timed-out or lost task)."""
    return deletion_requests_retry()
