"""Bulk import of posts from a CSV, all rows or none.

Columns (a header row is required; order is free):

| column | required | meaning |
| --- | --- | --- |
| ``account`` | yes | the Instagram username of one of the workspace's accounts |
| ``kind`` | yes | ``image``, ``carousel``, ``reel`` or ``story`` |
| ``scheduled_at`` | no | ``YYYY-MM-DD HH:MM`` in the account's time zone, or ISO 8601 with an offset; empty: a draft |
| ``media`` | yes | the uploaded file names, separated by ``|`` (a carousel's order) |
| ``caption``, ``first_comment``, ``alt_text``, ``location_id`` | no | as in the composer |
| ``collaborators`` | no | usernames separated by ``|`` |
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from accounts.models import InstagramAccount
from publishing.forms import TimeOutOfRange, local_to_aware, time_in_range
from publishing.models import ScheduledPost
from publishing.services import PostInvalid, PostNotEditable, Upload, post_create, post_errors

REQUIRED_COLUMNS = ("account", "kind", "media")
MAX_ROWS = 500


@dataclass(frozen=True)
class ImportColumn:
    """One column of the CSV, as the import page explains it (the table above, in plain text)."""

    name: str
    required: bool
    meaning: str


IMPORT_COLUMNS: tuple[ImportColumn, ...] = (
    ImportColumn("account", True, "The Instagram username of one of the workspace's accounts (with or without @)."),
    ImportColumn("kind", True, "image, carousel, reel or story."),
    ImportColumn("media", True, "The names of the files you upload with the CSV, separated by | (a carousel's order)."),
    ImportColumn(
        "scheduled_at",
        False,
        "YYYY-MM-DD HH:MM in the account's time zone, or ISO 8601 with an offset. Empty: the post is a draft.",
    ),
    ImportColumn("caption", False, "The caption, as in the composer (at most 2,200 characters)."),
    ImportColumn("first_comment", False, "A comment the account posts under its post once published."),
    ImportColumn("alt_text", False, "A description of the image for people using screen readers."),
    ImportColumn("location_id", False, "The ID of a Facebook Page with a location."),
    ImportColumn("collaborators", False, "Instagram usernames invited as collaborators, separated by |."),
)


def import_example(*, username: str, start: datetime) -> str:
    """A CSV that imports as it is for the account ``username`` once its files are uploaded.

    One scheduled image, one scheduled carousel and one draft reel, from the day after ``start``.
    """
    day = start.date()
    first, second = (day.fromordinal(day.toordinal() + offset).isoformat() for offset in (1, 2))
    return (
        "account,kind,scheduled_at,media,caption\n"
        f"{username},image,{first} 09:30,croissant.jpg,Fresh croissants from 7:00 🥐\n"
        f"{username},carousel,{second} 12:00,bread.jpg|cake.jpg,This week's bakes #bakery\n"
        f"{username},reel,,oven.mp4,Behind the counter (a draft: no date)\n"
    )


@dataclass
class ImportReport:
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    created: list[ScheduledPost] = field(default_factory=list)

    @property
    def rejected_lines(self) -> int:
        """How many lines of the file were refused (all or nothing: none of the file was imported then)."""
        return len({line for line, _ in self.errors})


def _when(raw: str, account: InstagramAccount) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    parsed = parse_datetime(raw.replace("T", " ") if "+" not in raw and "Z" not in raw else raw)
    if parsed is None:
        raise ValueError(f"scheduled_at “{raw}” is not a date and time (YYYY-MM-DD HH:MM)")
    try:
        return time_in_range(parsed) if parsed.tzinfo else local_to_aware(parsed, account)
    except TimeOutOfRange as exc:
        raise ValueError(f"scheduled_at “{raw}”: {exc}") from None


def _copy(upload: Upload) -> Upload:
    upload.stream.seek(0)
    data = upload.stream.read()
    return Upload(name=upload.name, stream=io.BytesIO(data), size=len(data))


def _unreadable(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        # Python's csv module refuses cells over 131,072 characters; no column takes a tenth of that.
        return f"a cell is longer than {csv.field_size_limit():,} characters (a caption takes at most 2,200)"
    return f"the CSV cannot be read here ({exc})"


def posts_import(*, accounts: Sequence[InstagramAccount], csv_text: str, files: Sequence[Upload]) -> ImportReport:
    """Check every row first (columns, account, time, files, Meta's limits); create all posts only if all pass.

    A file the csv module cannot read (a cell over its size limit, a broken quote) or that holds a
    NUL character (which PostgreSQL refuses in text) is refused whole, naming the line.
    """
    report = ImportReport()
    if "\x00" in csv_text:
        line = csv_text.count("\n", 0, csv_text.index("\x00")) + 1
        report.errors.append((line, "the file contains a NUL character: save it from the spreadsheet as CSV text"))
        return report
    reader = csv.DictReader(io.StringIO(csv_text))
    try:
        return _rows_import(reader, report, accounts=accounts, files=files)
    except csv.Error as exc:
        # line_num counts the lines parsed whole: the one that failed is the next.
        report.errors.append((reader.line_num + 1, _unreadable(exc)))
        report.created = []
        return report


def _rows_import(
    reader: csv.DictReader[str], report: ImportReport, *, accounts: Sequence[InstagramAccount], files: Sequence[Upload]
) -> ImportReport:
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        report.errors.append((1, f"missing column(s): {', '.join(missing)}"))
        return report
    by_username = {account.username.lower(): account for account in accounts}
    by_name = {upload.name: upload for upload in files}
    rows: list[dict[str, object]] = []
    for line, row in enumerate(reader, start=2):
        if line - 1 > MAX_ROWS:
            report.errors.append((line, f"at most {MAX_ROWS} rows per import"))
            break
        clean = {key: (value or "").strip() for key, value in row.items() if key}
        account = by_username.get(clean.get("account", "").lstrip("@").lower())
        if account is None:
            report.errors.append((line, f"no account “{clean.get('account', '')}” in this workspace"))
            continue
        try:
            when = _when(clean.get("scheduled_at", ""), account)
        except ValueError as exc:
            report.errors.append((line, str(exc)))
            continue
        names = [name.strip() for name in clean.get("media", "").split("|") if name.strip()]
        absent = [name for name in names if name not in by_name]
        if absent:
            report.errors.append((line, f"file(s) not uploaded: {', '.join(absent)}"))
            continue
        collaborators = [name.strip().lstrip("@") for name in clean.get("collaborators", "").split("|") if name.strip()]
        fields = {
            "account": account,
            "kind": clean.get("kind", "").lower(),
            "caption": clean.get("caption", ""),
            "first_comment": clean.get("first_comment", ""),
            "alt_text": clean.get("alt_text", ""),
            "location_id": clean.get("location_id", ""),
            "collaborators": [
                name.strip().lstrip("@") for name in clean.get("collaborators", "").split("|") if name.strip()
            ],
            "scheduled_at": when,
        }
        uploads = [_copy(by_name[name]) for name in names]
        errors = post_errors(
            kind=str(fields["kind"]),
            caption=str(fields["caption"]),
            first_comment=str(fields["first_comment"]),
            alt_text=str(fields["alt_text"]),
            collaborators=collaborators,
            location_id=str(fields["location_id"]),
            uploads=uploads,
        )
        report.errors += [(line, error) for error in errors]
        rows.append({**fields, "uploads": uploads})
    if report.errors:
        return report
    if not rows:
        report.errors.append((1, "the file has no rows"))
        return report
    try:
        with transaction.atomic():
            for row in rows:
                report.created.append(post_create(**row))  # type: ignore[arg-type]
    except (PostInvalid, PostNotEditable) as exc:
        report.created = []
        report.errors.append((0, f"nothing was imported: {exc}"))
    return report
