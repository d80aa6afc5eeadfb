"""Forms of the Safety page: the scope's overrides and its kill switch. Validation lives in the services."""

from __future__ import annotations

from typing import Any

from django import forms

from safety.guide import setting_label, value_text
from safety.selectors import EffectiveValue


class OverridesForm(forms.Form):
    """One optional whole number per policy key the scope may override; blank inherits."""

    def __init__(self, *args: Any, rows: list[EffectiveValue], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for row in rows:
            # Named in plain words (safety.guide); the field's name stays the policy key the override stores.
            self.fields[row.key] = forms.IntegerField(
                label=setting_label(row.key),
                required=False,
                min_value=0,
                initial=row.value if row.set_here else None,
                help_text="Leave blank to inherit"
                + (f" · at most {value_text(row.key, row.ceiling)}" if row.ceiling is not None else ""),
            )

    def values(self) -> dict[str, int | None]:
        return {key: self.cleaned_data.get(key) for key in self.fields}


class KillSwitchForm(forms.Form):
    stopped = forms.BooleanField(required=False, label="Stop all sending")
    reason = forms.CharField(required=False, max_length=300, label="Why (shown to the team)")
