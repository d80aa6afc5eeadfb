from __future__ import annotations

from typing import Any

from django import forms

from engagement.models import CommentRule, CommentSettings, RuleScope, TriggerType


class CommentRuleForm(forms.ModelForm[CommentRule]):
    """A rule: trigger, scope (with the account's posts to choose from), filters and actions.

    ``media`` is the account's latest posts (``[{"id", "caption", …}]``); chosen
    posts that are no longer among them stay choosable.
    """

    posts = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"data-testid": "rule-posts"}),
        help_text="For “Chosen posts”.",
    )

    class Meta:
        model = CommentRule
        fields = [
            "name",
            "trigger_type",
            "keywords",
            "scope",
            "skip_own",
            "once_per_commenter",
            "sentiment_min",
            "sentiment_max",
            "languages",
            "reply_templates",
            "private_reply_templates",
            "action_hide",
            "action_delete",
            "action_flag",
            "priority",
            "is_active",
        ]
        widgets = {
            "name": forms.TextInput(attrs={"data-testid": "rule-name", "placeholder": "Price questions"}),
            "trigger_type": forms.Select(attrs={"data-testid": "rule-trigger"}),
            "keywords": forms.TextInput(attrs={"data-testid": "rule-keywords", "placeholder": "price, cost, how much"}),
            "scope": forms.Select(attrs={"data-testid": "rule-scope"}),
            "sentiment_min": forms.NumberInput(attrs={"step": "0.05", "min": "-1", "max": "1", "placeholder": "-1"}),
            "sentiment_max": forms.NumberInput(attrs={"step": "0.05", "min": "-1", "max": "1", "placeholder": "1"}),
            "languages": forms.TextInput(attrs={"placeholder": "en, pt"}),
            "reply_templates": forms.Textarea(
                attrs={
                    "rows": 3,
                    "data-testid": "rule-templates",
                    "placeholder": "Hi {username}, we sent you the prices!",
                }
            ),
            "private_reply_templates": forms.Textarea(
                attrs={
                    "rows": 3,
                    "data-testid": "rule-private-templates",
                    "placeholder": "Hi {first_name}! Here is the price list: …",
                }
            ),
        }

    field_order = ["name", "trigger_type", "keywords", "scope", "posts"]

    def __init__(self, *args: Any, media: list[dict[str, Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [
            (str(item["id"]), (str(item.get("caption") or "").strip()[:60] or "(no caption)") + f" · {item['id']}")
            for item in media or []
        ]
        known = {value for value, _ in choices}
        choices += [(media_id, f"post {media_id}") for media_id in self.instance.media_ids if media_id not in known]
        posts = self.fields["posts"]
        assert isinstance(posts, forms.MultipleChoiceField)
        posts.choices = choices
        self.initial.setdefault("posts", list(self.instance.media_ids))
        # Left out of a POST (an API-style client), trigger and scope take their defaults.
        for name in ("keywords", "reply_templates", "private_reply_templates", "trigger_type", "scope"):
            self.fields[name].required = False

    def clean_trigger_type(self) -> str:
        return str(self.cleaned_data.get("trigger_type") or TriggerType.ANY_KEYWORD)

    def clean_scope(self) -> str:
        return str(self.cleaned_data.get("scope") or RuleScope.ALL_POSTS)

    def clean_keywords(self) -> str:
        keywords: str = self.cleaned_data.get("keywords") or ""
        if self.cleaned_data.get("trigger_type") in ("any", "all"):
            return ", ".join(keyword.strip() for keyword in keywords.split(",") if keyword.strip())
        return keywords.strip()

    def _clean_lines(self, name: str) -> str:
        return "\n".join(line.strip() for line in (self.cleaned_data.get(name) or "").splitlines() if line.strip())

    def clean_reply_templates(self) -> str:
        return self._clean_lines("reply_templates")

    def clean_private_reply_templates(self) -> str:
        return self._clean_lines("private_reply_templates")

    def clean_languages(self) -> str:
        codes = [code.strip().lower() for code in (self.cleaned_data.get("languages") or "").split(",") if code.strip()]
        bad = [code for code in codes if not code.replace("-", "").isalpha() or len(code) > 6]
        if bad:
            raise forms.ValidationError(f"Not a language code: {', '.join(bad)}. Use codes like en, pt, es.")
        return ", ".join(codes)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        return cleaned

    def _post_clean(self) -> None:
        # Chosen posts live in a JSON field the model validates with the rest.
        self.instance.media_ids = (
            list(self.cleaned_data.get("posts") or [])
            if self.cleaned_data.get("scope") == RuleScope.CHOSEN_POSTS
            else []
        )
        super()._post_clean()  # type: ignore[misc]

    def add_error(self, field: str | None, error: Any) -> None:
        # The model names the chosen posts "media_ids"; the form shows them as "posts".
        if (
            isinstance(error, forms.ValidationError)
            and hasattr(error, "error_dict")
            and "media_ids" in error.error_dict
        ):
            error.error_dict["posts"] = error.error_dict.pop("media_ids")
        super().add_error(field, error)


class CommentSettingsForm(forms.ModelForm[CommentSettings]):
    class Meta:
        model = CommentSettings
        fields = ["match_mode", "auto_hide_negative", "auto_hide_threshold", "auto_hide_spam"]
        widgets = {
            "match_mode": forms.Select(attrs={"data-testid": "settings-match-mode"}),
            "auto_hide_threshold": forms.NumberInput(attrs={"step": "0.05", "min": "-1", "max": "1"}),
        }
