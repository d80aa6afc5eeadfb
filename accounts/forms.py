from __future__ import annotations

from django import forms

from accounts.models import Role


class WorkspaceForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        label="Workspace name",
        widget=forms.TextInput(attrs={"data-testid": "workspace-name", "autofocus": True}),
    )


class InvitationForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"data-testid": "invite-email"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
