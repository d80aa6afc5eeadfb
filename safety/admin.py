"""The operators' admin for the safety engine: the global kill switch, overrides, counters, audit trails.

Changes go through the safety services, so they are validated against Meta's
ceilings and audited with the operator as actor.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.decorators import action, display

from safety.models import (
    GlobalKillSwitch,
    GlobalKillSwitchChange,
    SafetyChange,
    SafetyCounter,
    SafetyEvent,
    SafetyOverride,
)
from safety.policies import PolicyValueError, Scope, policy_value_validate
from safety.services import PolicyOverrideError, global_kill_switch_set, kill_switch_set, policy_override_set


@admin.register(GlobalKillSwitch)
class GlobalKillSwitchAdmin(ModelAdmin):
    list_display = ("__str__", "stopped_reason", "changed_at", "changed_by")
    readonly_fields = ("sending_stopped", "stopped_reason", "changed_at", "changed_by")
    actions = ["stop_sending", "resume_sending"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[GlobalKillSwitch]:
        GlobalKillSwitch.objects.get_or_create(pk=1)
        return super().get_queryset(request)

    @action(description="Stop all sending on the platform")
    def stop_sending(self, request: HttpRequest, queryset: QuerySet[GlobalKillSwitch]) -> None:
        global_kill_switch_set(stopped=True, reason="stopped by an operator in the admin", actor=request.user)  # type: ignore[arg-type]
        messages.warning(request, "Sending is stopped everywhere. Work is still planned and waits.")

    @action(description="Resume sending on the platform")
    def resume_sending(self, request: HttpRequest, queryset: QuerySet[GlobalKillSwitch]) -> None:
        global_kill_switch_set(stopped=False, actor=request.user)  # type: ignore[arg-type]
        messages.success(request, "Sending resumed.")


class SafetyOverrideForm(forms.ModelForm):
    values = forms.CharField(
        widget=forms.Textarea, required=False, help_text='JSON of policy keys, e.g. {"cooldowns.dm": 300}.'
    )

    class Meta:
        model = SafetyOverride
        fields = ["workspace", "account", "values", "sending_stopped", "stopped_reason"]

    def clean_values(self) -> dict[str, Any]:
        raw = self.cleaned_data.get("values") or "{}"
        try:
            values = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise ValidationError("Give a JSON object of policy keys and whole numbers.")
        return values

    def clean(self) -> dict[str, Any]:
        """Refuse bad values on the form itself (the service checks again when saving)."""
        cleaned = super().clean() or {}
        scope = Scope.ACCOUNT if cleaned.get("account") else Scope.WORKSPACE
        for key, value in (cleaned.get("values") or {}).items():
            try:
                policy_value_validate(key, value, scope=scope)
            except PolicyValueError as exc:
                self.add_error("values", str(exc))
        return cleaned


@admin.register(SafetyOverride)
class SafetyOverrideAdmin(ModelAdmin):
    form = SafetyOverrideForm
    list_display = ("workspace", "account", "values", "sending_stopped", "updated_at")
    list_filter = ("sending_stopped",)
    autocomplete_fields = ("workspace", "account")

    def save_model(self, request: HttpRequest, obj: SafetyOverride, form: Any, change: bool) -> None:
        """Through the services: validated against Meta's ceilings, audited with the operator as actor."""
        old = set(SafetyOverride.all_workspaces.get(pk=obj.pk).values) if obj.pk else set()
        wanted: dict[str, int | None] = {key: None for key in old}
        wanted.update(form.cleaned_data["values"])
        try:
            row = policy_override_set(
                workspace_id=obj.workspace_id,
                account_id=obj.account_id,
                values=wanted,
                actor=request.user,  # type: ignore[arg-type]
            )
        except PolicyOverrideError as exc:
            messages.error(request, f"Not saved: {exc}")
            return
        kill_switch_set(
            workspace_id=obj.workspace_id,
            account_id=obj.account_id,
            stopped=obj.sending_stopped,
            reason=obj.stopped_reason,
            actor=request.user,  # type: ignore[arg-type]
        )
        obj.pk = row.pk
        obj.refresh_from_db()


class ReadOnlyAdmin(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SafetyChange)
class SafetyChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "workspace", "account", "setting", "old_value", "new_value", "actor")
    list_filter = ("setting",)


@admin.register(GlobalKillSwitchChange)
class GlobalKillSwitchChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "sending_stopped", "reason", "actor")


@admin.register(SafetyCounter)
class SafetyCounterAdmin(ReadOnlyAdmin):
    list_display = ("scope", "window", "window_start", "count")
    list_filter = ("window",)


@admin.register(SafetyEvent)
class SafetyEventAdmin(ReadOnlyAdmin):
    """What the safety engine saw; a suspension's row holds the evidence the review queue links to."""

    list_display = ("at", "account", "kind", "outcome", "code", "detail")
    list_filter = ("kind", "outcome")
    search_fields = ("detail", "account__username")
    readonly_fields = ("at", "workspace", "account", "kind", "outcome", "code", "action_id_ref", "detail", "evidence")
    exclude = ("data",)

    @display(description="evidence")
    def evidence(self, event: SafetyEvent) -> SafeString:
        return format_html("<pre class='whitespace-pre-wrap'>{}</pre>", json.dumps(event.data, indent=2, default=str))
