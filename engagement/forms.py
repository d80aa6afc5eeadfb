from __future__ import annotations

from typing import Any

from django import forms

from engagement.models import CommentRule


class CommentRuleForm(forms.ModelForm[CommentRule]):
    class Meta:
        model = CommentRule
        fields = ["name", "keywords", "reply_templates", "priority", "is_active"]
        widgets = {
            "name": forms.TextInput(attrs={"data-testid": "rule-name", "placeholder": "Price questions"}),
            "keywords": forms.TextInput(attrs={"data-testid": "rule-keywords", "placeholder": "price, cost, how much"}),
            "reply_templates": forms.Textarea(
                attrs={
                    "rows": 4,
                    "data-testid": "rule-templates",
                    "placeholder": "Hi {username}, we sent you the prices!",
                }
            ),
        }

    def clean_keywords(self) -> str:
        keywords = [keyword.strip() for keyword in self.cleaned_data["keywords"].split(",") if keyword.strip()]
        if not keywords:
            raise forms.ValidationError("Enter at least one keyword.")
        return ", ".join(keywords)

    def clean_reply_templates(self) -> str:
        templates = [line.strip() for line in self.cleaned_data["reply_templates"].splitlines() if line.strip()]
        if not templates:
            raise forms.ValidationError("Enter at least one reply.")
        too_long = [t for t in templates if len(t) > 2200]
        if too_long:
            raise forms.ValidationError("Instagram comments are at most 2,200 characters.")
        return "\n".join(templates)

    def clean(self) -> dict[str, Any]:
        return super().clean() or {}
