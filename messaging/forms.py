from __future__ import annotations

import uuid
from typing import Any

from django import forms

from accounts.models import InstagramAccount
from engagement.matching import keyword_list_error
from instaforge.outbound import outbound_url_problem
from instagram.limits import MESSAGE_MAX_BYTES, message_texts_error
from messaging.flows import (
    FLOW_STEPS_MAX,
    NEXT_END,
    STEP_TYPES,
    cases_format,
    cases_parse,
    options_format,
    options_parse,
)
from messaging.models import ConversationState, DmRule, Flow, MessagingSettings, TriggerKind


def reply_token() -> str:
    """A fresh token for one reply form: the same form submitted twice carries the same token, and sends once."""
    return uuid.uuid4().hex


class ReplyForm(forms.Form):
    text = forms.CharField(
        max_length=MESSAGE_MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 3, "data-testid": "reply-text", "placeholder": "Write your answer…"}),
        label="Your answer",
    )
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)


class StateForm(forms.Form):
    state = forms.ChoiceField(choices=ConversationState.choices)


class NoteForm(forms.Form):
    text = forms.CharField(
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2, "data-testid": "note-text", "placeholder": "Only your team sees this"}),
        label="Note",
    )


# ---------------------------------------------------------------------------
# Automation: DM rules, flows and their steps, workspace settings


class _AccountChoiceMixin:
    """Limit the ``account`` field to the accounts of the workspace in scope."""

    def _limit_accounts(self) -> None:
        field = self.fields["account"]  # type: ignore[attr-defined]
        field.queryset = InstagramAccount.objects.order_by("username")
        field.empty_label = None


class DmRuleForm(_AccountChoiceMixin, forms.ModelForm):
    class Meta:
        model = DmRule
        fields = [
            "account",
            "name",
            "trigger_kind",
            "keywords",
            "intent",
            "reply_templates",
            "quick_replies",
            "priority",
            "is_active",
        ]
        widgets = {
            "name": forms.TextInput(attrs={"data-testid": "dm-rule-name"}),
            "keywords": forms.TextInput(attrs={"data-testid": "dm-rule-keywords"}),
            "reply_templates": forms.Textarea(attrs={"rows": 3, "data-testid": "dm-rule-templates"}),
            "quick_replies": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_accounts()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("trigger_kind")
        if kind == "keyword" and not str(data.get("keywords") or "").strip():
            self.add_error("keywords", "A keyword rule needs at least one keyword.")
        if kind == "intent" and not data.get("intent"):
            self.add_error("intent", "Choose the intent that triggers this rule.")
        templates = [line for line in str(data.get("reply_templates") or "").splitlines() if line.strip()]
        if not templates:
            self.add_error("reply_templates", "Write at least one reply.")
        too_long = message_texts_error(templates, what="A reply")
        if too_long is not None:
            self.add_error("reply_templates", too_long)
        buttons = [line.strip() for line in str(data.get("quick_replies") or "").splitlines() if line.strip()]
        if len(buttons) > 13:
            self.add_error("quick_replies", "Instagram allows at most 13 quick replies.")
        if any(len(button) > 20 for button in buttons):
            self.add_error("quick_replies", "A quick reply's title is at most 20 characters.")
        return data


class FlowForm(_AccountChoiceMixin, forms.ModelForm):
    class Meta:
        model = Flow
        fields = ["account", "name", "trigger_kind", "keywords", "intent", "priority", "is_active"]
        widgets = {
            "name": forms.TextInput(attrs={"data-testid": "flow-name"}),
            "keywords": forms.TextInput(attrs={"data-testid": "flow-keywords"}),
            "trigger_kind": forms.Select(attrs={"data-testid": "flow-trigger"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limit_accounts()
        self.fields["trigger_kind"].choices = [  # type: ignore[attr-defined]
            (value, label) for value, label in TriggerKind.choices if value != TriggerKind.NEW_CONVERSATION
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("trigger_kind") == "keyword" and not str(data.get("keywords") or "").strip():
            self.add_error("keywords", "A keyword flow needs at least one keyword.")
        if data.get("trigger_kind") == "intent" and not data.get("intent"):
            self.add_error("intent", "Choose the intent that starts this flow.")
        return data


def _testid(name: str) -> dict[str, str]:
    return {"data-testid": f"step-{name}"}


class StepForm(forms.Form):
    """One step of the editor; ``to_step`` turns it into the JSON the engine runs."""

    id = forms.CharField(max_length=40, required=False, label="Step ID", widget=forms.TextInput(attrs=_testid("id")))
    type = forms.ChoiceField(choices=list(STEP_TYPES.items()), label="Step", widget=forms.Select(attrs=_testid("type")))
    text = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, **_testid("text")}))
    options = forms.CharField(
        required=False,
        label="Buttons",
        help_text="One per line: Title | PAYLOAD, or Title | PAYLOAD -> step id to branch on a tap",
        widget=forms.Textarea(attrs={"rows": 2, **_testid("options")}),
    )
    variable = forms.CharField(required=False, max_length=40, widget=forms.TextInput(attrs=_testid("variable")))
    cases = forms.CharField(
        required=False,
        help_text="One per line: keywords or PAYLOAD -> step id",
        widget=forms.Textarea(attrs={"rows": 2, **_testid("cases")}),
    )
    default = forms.CharField(
        required=False, max_length=40, label="Otherwise go to", widget=forms.TextInput(attrs=_testid("default"))
    )
    next = forms.CharField(
        required=False,
        max_length=40,
        label="Then go to",
        help_text=f"a step id, or {NEXT_END} to end the flow; empty: the next step",
        widget=forms.TextInput(attrs=_testid("next")),
    )
    seconds = forms.IntegerField(required=False, min_value=1, label="Delay (s)")
    tag = forms.CharField(required=False, max_length=40)
    url = forms.URLField(required=False, label="Webhook URL", assume_scheme="https")
    timeout = forms.FloatField(required=False, min_value=0.1, max_value=30, label="Timeout (s)")

    def to_step(self, position: int) -> dict[str, Any]:
        data = self.cleaned_data
        kind = data["type"]
        step: dict[str, Any] = {"id": (data.get("id") or "").strip() or f"step-{position}", "type": kind}
        if kind in ("send_text", "send_quick_replies", "ask"):
            step["text"] = (data.get("text") or "").strip()
        if kind in ("send_quick_replies", "ask"):
            options = options_parse(data.get("options") or "")
            if options or kind == "send_quick_replies":
                step["options"] = options
        if kind in ("ask", "branch", "webhook"):
            step["variable"] = (data.get("variable") or "").strip()
        if kind == "branch":
            step["cases"] = cases_parse(data.get("cases") or "")
            if (data.get("default") or "").strip():
                step["default"] = data["default"].strip()
        if (data.get("next") or "").strip() and kind not in ("branch", "hand_over", "end"):
            step["next"] = data["next"].strip()
        if kind == "delay":
            step["seconds"] = data.get("seconds")
        if kind == "add_tag":
            step["tag"] = (data.get("tag") or "").strip()
        if kind == "webhook":
            step["url"] = data.get("url") or ""
            step["timeout"] = data.get("timeout") or 10.0
        return step

    @staticmethod
    def initial_from(step: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": step.get("id", ""),
            "type": step.get("type", "send_text"),
            "text": step.get("text", ""),
            "options": options_format(step.get("options") or []),
            "variable": step.get("variable", ""),
            "cases": cases_format(step.get("cases") or []),
            "default": step.get("default", ""),
            "next": step.get("next", ""),
            "seconds": step.get("seconds"),
            "tag": step.get("tag", ""),
            "url": step.get("url", ""),
            "timeout": step.get("timeout"),
        }


class BaseStepFormSet(forms.BaseFormSet):
    default_error_messages = {
        "missing_management_form": "The list of steps arrived incomplete (%(field_names)s); reload the editor.",
        "too_many_forms": "A flow has at most %(num)d steps.",
    }


# absolute_max: a bound formset builds at most this many forms whatever TOTAL_FORMS claims (Django's
# default is 2,000, seconds of CPU per request), and validate_max refuses a claim above it.
StepFormSet = forms.formset_factory(
    StepForm,
    formset=BaseStepFormSet,
    extra=0,
    can_order=True,
    can_delete=True,
    max_num=FLOW_STEPS_MAX,
    absolute_max=FLOW_STEPS_MAX,
    validate_max=True,
)


def steps_from_formset(formset: forms.BaseFormSet) -> list[dict[str, Any]]:
    """The steps in the order the member chose (ORDER), without the deleted ones. Call after is_valid()."""
    return [form.to_step(position) for position, form in enumerate(formset.ordered_forms, start=1)]


class MessagingSettingsForm(forms.ModelForm):
    ai_api_key = forms.CharField(
        required=False,
        label="AI API key",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )
    clear_ai_api_key = forms.BooleanField(required=False, label="Remove the stored API key")
    ai_base_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="AI base URL",
        help_text="An OpenAI-compatible API, e.g. https://api.example.com (…/v1/chat/completions is added).",
    )

    class Meta:
        model = MessagingSettings
        fields = [
            "handover_keywords",
            "handover_confidence_below",
            "handover_sentiment_below",
            "notify_by_email",
            "classifier_ai",
            "ai_enabled",
            "ai_base_url",
            "ai_model",
            "ai_system_prompt",
            "ai_brand_facts",
            "ai_max_length",
            "ai_blocked_words",
            "ai_timeout_seconds",
            "ai_fallback_template",
        ]
        widgets = {
            "ai_system_prompt": forms.Textarea(attrs={"rows": 3}),
            "ai_brand_facts": forms.Textarea(attrs={"rows": 3}),
            "ai_fallback_template": forms.Textarea(attrs={"rows": 2}),
            "handover_keywords": forms.TextInput(attrs={"data-testid": "handover-keywords"}),
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        confidence = data.get("handover_confidence_below")
        if confidence is not None and not 0 <= confidence <= 1:
            self.add_error("handover_confidence_below", "A confidence is from 0 to 1.")
        sentiment = data.get("handover_sentiment_below")
        if sentiment is not None and not -1 <= sentiment <= 1:
            self.add_error("handover_sentiment_below", "VADER's score is from -1 to 1.")
        timeout = data.get("ai_timeout_seconds")
        if timeout is not None and not 0.5 <= timeout <= 60:
            self.add_error("ai_timeout_seconds", "The timeout is from 0.5 to 60 seconds.")
        max_length = data.get("ai_max_length")
        if max_length is not None and not 20 <= max_length <= MESSAGE_MAX_BYTES:
            limit = MESSAGE_MAX_BYTES
            self.add_error("ai_max_length", f"From 20 to {limit} characters (Instagram's limit is {limit} bytes).")
        if data.get("ai_enabled") or data.get("classifier_ai"):
            if not data.get("ai_base_url"):
                self.add_error("ai_base_url", "The AI needs the endpoint's base URL.")
            if not data.get("ai_model"):
                self.add_error("ai_model", "The AI needs a model name.")
        if data.get("ai_base_url") and (problem := outbound_url_problem(str(data["ai_base_url"]))) is not None:
            self.add_error("ai_base_url", problem)
        blocked = keyword_list_error(str(data.get("ai_blocked_words") or ""), what="The list of blocked words")
        if blocked is not None:
            self.add_error("ai_blocked_words", blocked)
        return data


class IceBreakersForm(forms.Form):
    """Up to four questions; an empty field is no question. All empty removes the ice breakers."""

    question_1 = forms.CharField(required=False, max_length=200, label="Question 1")
    question_2 = forms.CharField(required=False, max_length=200, label="Question 2")
    question_3 = forms.CharField(required=False, max_length=200, label="Question 3")
    question_4 = forms.CharField(required=False, max_length=200, label="Question 4")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for number, field in enumerate(self.fields.values(), 1):
            field.widget.attrs.update(
                {"data-testid": f"ice-breaker-{number}", "placeholder": "e.g. What are your prices?"}
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        questions = [str(cleaned.get(name) or "").strip() for name in self.fields]
        filled = [question for question in questions if question]
        if len({question.casefold() for question in filled}) < len(filled):
            raise forms.ValidationError("Each question must be different: a person would see the same button twice.")
        cleaned["questions"] = filled
        return cleaned

    @classmethod
    def initial_for(cls, questions: list[str]) -> dict[str, str]:
        return {f"question_{number}": question for number, question in enumerate(questions, 1)}
