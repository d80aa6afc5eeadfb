from __future__ import annotations

from django import forms

from instaforge.outbound import outbound_url_problem
from integrations.models import EventKind, WebhookEndpoint

SUBSCRIBABLE = [(value, label) for value, label in EventKind.choices if value != EventKind.PING]


class WebhookEndpointForm(forms.ModelForm[WebhookEndpoint]):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        widget=forms.URLInput(
            attrs={"data-testid": "endpoint-url", "placeholder": "https://crm.example.com/hooks/instaforge"}
        ),
    )
    event_kinds = forms.MultipleChoiceField(
        choices=SUBSCRIBABLE,
        widget=forms.CheckboxSelectMultiple(attrs={"data-testid": "endpoint-kinds"}),
        help_text="The events this endpoint receives.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_kinds", "is_active"]
        widgets = {
            "url": forms.URLInput(
                attrs={"data-testid": "endpoint-url", "placeholder": "https://crm.example.com/hooks/instaforge"}
            ),
            "description": forms.TextInput(attrs={"placeholder": "Our CRM"}),
        }

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        if not url.startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http:// or https:// URL.")
        problem = outbound_url_problem(url)
        if problem is not None:
            raise forms.ValidationError(problem)
        return url
