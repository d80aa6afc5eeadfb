from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.files.uploadedfile import UploadedFile

from accounts.models import InstagramAccount
from publishing.models import PostKind, ScheduledPost
from publishing.services import PostContent, Upload


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,video/mp4,video/quicktime"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


def uploads_from(files: list[UploadedFile]) -> list[Upload]:
    return [Upload(name=file.name or "upload", stream=file, size=file.size or 0) for file in files]


def user_tags_parse(text: str) -> list[dict[str, Any]]:
    """One tag a line: ``username x y`` (x and y from 0.0 to 1.0; optional for stories)."""
    tags: list[dict[str, Any]] = []
    for line in text.splitlines():
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        tag: dict[str, Any] = {"username": parts[0].lstrip("@")}
        try:
            if len(parts) >= 3:
                tag["x"], tag["y"] = float(parts[1]), float(parts[2])
        except ValueError:
            raise forms.ValidationError(
                f"“{line}”: write the position as two numbers, e.g. “{parts[0]} 0.5 0.5”."
            ) from None
        tags.append(tag)
    return tags


def names_parse(text: str) -> list[str]:
    return [name.strip().lstrip("@") for name in text.replace("\n", ",").split(",") if name.strip()]


# The years a member can schedule in or browse: from Instagram's launch to far enough ahead. Outside,
# a date is a typo, and near datetime's own ends (years 1 and 9999) the conversion to UTC and the
# calendar's "next month" overflow.
FIRST_YEAR = 2010
LAST_YEAR = 2100


class TimeOutOfRange(ValueError):
    """A date or time outside FIRST_YEAR..LAST_YEAR."""

    def __init__(self) -> None:
        super().__init__(f"Pick a date between {FIRST_YEAR} and {LAST_YEAR}.")


def time_in_range(value: datetime) -> datetime:
    """``value`` itself, or ``TimeOutOfRange`` when its year is out of range (then it converts to UTC safely)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise TimeOutOfRange()
    return value


def local_to_aware(value: datetime, account: InstagramAccount) -> datetime:
    """A time typed in the account's time zone, made aware (``TimeOutOfRange``, a ValueError, if out of range)."""
    try:
        zone = ZoneInfo(account.time_zone or "UTC")
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return time_in_range(value.replace(tzinfo=zone))


class PostForm(forms.Form):
    account = forms.ModelChoiceField(queryset=InstagramAccount.all_workspaces.none(), empty_label=None)
    kind = forms.ChoiceField(choices=PostKind.choices, initial=PostKind.IMAGE)
    media_files = MultipleFileField(
        label="Photos and videos",
        required=False,
        help_text="JPEG images; MP4 or MOV videos. A carousel takes 2 to 10 files, in this order.",
    )
    caption = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Up to 2,200 characters, 30 hashtags and 20 @ mentions.",
    )
    first_comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text="Posted as a comment right after publishing.",
    )
    alt_text = forms.CharField(required=False, max_length=1000, help_text="Images only, up to 1,000 characters.")
    user_tags = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="One a line: username x y (0.0–1.0)."
    )
    collaborators = forms.CharField(
        required=False, help_text="Up to 3 usernames, separated by commas. Not for stories."
    )
    location_id = forms.CharField(
        required=False, max_length=64, label="Location ID", help_text="The ID of a Facebook Page with a location."
    )
    scheduled_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the account's time zone. Leave empty to keep a draft.",
    )

    def __init__(self, *args: Any, accounts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts  # type: ignore[attr-defined]

    def content(self) -> PostContent:
        """The post's text and options from a valid form (its files are in ``request.FILES``)."""
        data = self.cleaned_data
        return PostContent(
            kind=data["kind"],
            caption=data["caption"],
            first_comment=data["first_comment"],
            alt_text=data["alt_text"],
            user_tags=data["user_tags"],
            collaborators=data["collaborators"],
            location_id=data["location_id"],
        )

    def clean_user_tags(self) -> list[dict[str, Any]]:
        return user_tags_parse(self.cleaned_data.get("user_tags") or "")

    def clean_scheduled_at(self) -> datetime | None:
        value: datetime | None = self.cleaned_data.get("scheduled_at")
        try:
            return time_in_range(value) if value is not None else None
        except TimeOutOfRange as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_collaborators(self) -> list[str]:
        return names_parse(self.cleaned_data.get("collaborators") or "")


class PostEditForm(PostForm):
    """The compose form without the account and the time (the post keeps both); files are optional."""

    def __init__(self, *args: Any, post: ScheduledPost, **kwargs: Any) -> None:
        initial = {
            "kind": post.kind,
            "caption": post.caption,
            "first_comment": post.first_comment,
            "alt_text": post.alt_text,
            "user_tags": "\n".join(
                " ".join([tag["username"], *(str(tag[axis]) for axis in ("x", "y") if axis in tag)])
                for tag in post.user_tags or []
            ),
            "collaborators": ", ".join(post.collaborators or []),
            "location_id": post.location_id,
        }
        super().__init__(*args, accounts=InstagramAccount.all_workspaces.none(), initial=initial, **kwargs)
        del self.fields["account"], self.fields["scheduled_at"]
        files = self.fields["media_files"]
        files.label = "Replace the photos and videos"
        files.help_text = "Leave empty to keep the current files. New files replace all of them, in this order."


# A CSV of the most rows an import takes (500), each with the longest texts Meta allows, is well under this.
IMPORT_CSV_MAX_BYTES = 10 * 1024 * 1024


class ImportForm(forms.Form):
    csv_file = forms.FileField(label="CSV file", widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}))
    media_files = MultipleFileField(
        label="Media files", required=False, help_text="The images and videos the CSV names in its media column."
    )

    def clean_csv_file(self) -> UploadedFile:
        file: UploadedFile = self.cleaned_data["csv_file"]
        if (file.size or 0) > IMPORT_CSV_MAX_BYTES:
            raise forms.ValidationError(
                f"The CSV may be at most {IMPORT_CSV_MAX_BYTES // (1024 * 1024)} MB; split it into several imports."
            )
        return file
