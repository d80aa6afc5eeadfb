from __future__ import annotations

import uuid

from django import forms

from messaging.models import ConversationState
from messaging.services import MESSAGE_MAX_LENGTH


def reply_token() -> str:
    """A fresh token for one reply form: the same form submitted twice carries the same token, and sends once."""
    return uuid.uuid4().hex


class ReplyForm(forms.Form):
    text = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
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
