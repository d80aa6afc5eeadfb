from __future__ import annotations

from django import forms

from accounts.models import Role
from accounts.zones import zone_valid


class WorkspaceForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        label="Workspace name",
        widget=forms.TextInput(attrs={"data-testid": "workspace-name", "autofocus": True}),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"data-testid": "invite-email"}))
    role = forms.ChoiceField(
        choices=Role.choices, initial=Role.MEMBER, widget=forms.Select(attrs={"data-testid": "invite-role"})
    )

    def __init__(self, *args: object, allow_owner: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if not allow_owner:  # only owners invite owners (accounts.services.invitation_create)
            self.fields["role"].choices = [(value, label) for value, label in Role.choices if value != Role.OWNER]  # type: ignore[attr-defined]


class TimeZoneForm(forms.Form):
    """An IANA time zone, typed or picked from the browser's list (a ``<datalist>``: searchable, no script)."""

    time_zone = forms.CharField(
        max_length=64,
        label="Time zone",
        help_text="Type a city or region and pick from the list, e.g. Europe/Paris or America/New_York.",
        widget=forms.TextInput(
            attrs={
                "list": "time-zone-names",
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "Europe/Paris",
                "data-testid": "time-zone-input",
            }
        ),
    )

    def __init__(self, *args: object, allow_empty: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.allow_empty = allow_empty
        self.fields["time_zone"].required = not allow_empty

    def clean_time_zone(self) -> str:
        name = str(self.cleaned_data.get("time_zone") or "").strip()
        if not name and self.allow_empty:
            return ""
        if not zone_valid(name):
            raise forms.ValidationError("Not a time zone name: choose one from the list, such as Europe/Paris.")
        return name
