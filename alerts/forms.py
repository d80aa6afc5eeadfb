from __future__ import annotations

from django import forms

from instaforge.outbound import outbound_url_problem


class AlertSettingsForm(forms.Form):
    slack_webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Slack incoming-webhook URL",
        help_text="Slack, Mattermost, Rocket.Chat or any Slack-compatible incoming webhook. Leave empty to keep the "
        "one set; tick “remove” to stop posting.",
        widget=forms.URLInput(
            attrs={"data-testid": "alerts-slack-url", "placeholder": "https://hooks.slack.com/services/…"}
        ),
    )
    remove_slack = forms.BooleanField(required=False, label="Remove the Slack webhook URL")

    def clean_slack_webhook_url(self) -> str:
        url: str = self.cleaned_data["slack_webhook_url"]
        if not url:
            return ""
        if not url.startswith(("https://", "http://")):
            raise forms.ValidationError("Use an http:// or https:// URL.")
        problem = outbound_url_problem(url)
        if problem is not None:
            raise forms.ValidationError(problem)
        return url
