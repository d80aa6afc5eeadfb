from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class ObservabilityConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "observability"
    verbose_name = "Health and metrics"

    def ready(self) -> None:
        from observability.services import worker_signals_connect

        if not settings.Q_CLUSTER.get("sync"):  # tasks inline (tests, Q_SYNC): there is no worker to report
            worker_signals_connect()
