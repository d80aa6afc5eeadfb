"""The data lifecycle's background tasks and schedules."""
