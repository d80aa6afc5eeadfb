"""Pieces every app's admin module uses: read-only mixins, a JSON block, a cross-tenant autocomplete filter.

They import no app, so any admin module may use them whatever its layer (.importlinter).
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from unfold.contrib.filters.admin import AutocompleteSelectFilter
from unfold.contrib.filters.forms import AutocompleteDropdownForm


class ReadOnlyAdminMixin:
    """For records that are never written by hand: nothing to add or change; only superusers delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)


class ReadOnlyInlineMixin:
    """An inline that only shows rows."""

    extra = 0
    max_num = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def json_block(value: Any) -> SafeString:
    """Pretty-printed JSON, escaped, in a scrollable block."""
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html(
        '<pre class="max-h-[32rem] overflow-auto text-xs leading-relaxed whitespace-pre-wrap break-all">{}</pre>', text
    )


def superuser_only(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


class _CrossTenantAutocompleteForm(AutocompleteDropdownForm):
    """Unfold's autocomplete filter form, over the related model's default manager.

    Unfold builds the choices from ``Model.objects``, which for tenant-owned
    models is the workspace-scoped manager and raises outside a workspace; the
    admin is cross-tenant, so it uses ``all_workspaces`` (the default manager).
    """

    def __init__(
        self,
        request: HttpRequest,
        name: str,
        label: str,
        choices: tuple[Any, ...],
        field: Any,
        model_admin: Any,
        multiple: bool = False,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        forms.Form.__init__(self, *args, **kwargs)
        self.fields[name] = forms.ModelChoiceField(
            label=label,
            required=False,
            queryset=field.remote_field.model._default_manager.all(),
            widget=AutocompleteSelect(field, model_admin.admin_site, attrs={"class": "unfold-filter-autocomplete"}),
        )


class AutocompleteFilter(AutocompleteSelectFilter):
    """A list filter on a foreign key with a search box (the related admin needs ``search_fields``)."""

    form_class = _CrossTenantAutocompleteForm
