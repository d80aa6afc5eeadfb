from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from instaforge.admin_helpers import ReadOnlyAdminMixin
from observability.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Which dispatchers, workers and schedules runners said they were alive, and when (read-only)."""

    list_display = ("role", "name", "beat_at")
    list_filter = ("role",)
    ordering = ("role", "-beat_at")
    search_fields = ("name",)
