"""Redact the credentials that error texts stored before issue 18 may hold.

Until then a network failure's text (requests' ``Max retries exceeded with url:
/v…/me?access_token=…``) reached the ledger, the safety events, the account
transitions, the inbound events, the integration deliveries and the posts'
histories. Only the rows whose text holds a marker of a credential are read,
in batches; each is redacted with ``instaforge.redaction`` (the same redaction
every writer now applies) and written back only when it changed. Going back
restores nothing: the secrets are gone, which is the point.
"""

from __future__ import annotations

from functools import reduce
from operator import or_
from typing import Any

from django.db import migrations, models
from django.db.models.functions import Cast

from instaforge.redaction import secrets_redact, value_redact

# (app, model, text fields, JSON fields): the columns that store an error's or an answer's text.
ERROR_TEXT_COLUMNS: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]] = [
    ("actions", "Action", ("last_reason",), ("result",)),
    ("actions", "ActionDecision", ("reason",), ()),
    ("safety", "SafetyEvent", ("detail",), ("data",)),
    ("safety", "AccountUsage", ("regain_reason",), ("backoff",)),
    ("accounts", "InstagramAccount", ("state_reason",), ()),
    ("accounts", "AccountTransition", ("reason",), ()),
    ("instagram", "InboundEvent", ("outcome",), ()),
    ("integrations", "WebhookDelivery", ("last_error", "last_response_excerpt"), ()),
    ("publishing", "ScheduledPost", ("state_reason",), ()),
    ("publishing", "PostEvent", ("message",), ()),
]
# Text that a credential leaves in a column (case-insensitive): the rows without any are not read.
MARKERS = (
    "access_token",
    "client_secret",
    "appsecret_proof",
    "fb_exchange_token",
    "input_token",
    "refresh_token",
    "signed_request",
    "verify_token",
    "code=",
    "code%3d",
    "bearer",
    "igaa",
    "igqv",
    "igqw",
    "eaa",
)
BATCH = 500


def _scrub(apps: Any, schema_editor: Any) -> None:
    for app_label, model_name, text_fields, json_fields in ERROR_TEXT_COLUMNS:
        model = apps.get_model(app_label, model_name)
        manager = model._base_manager.using(schema_editor.connection.alias)
        annotations = {f"_{name}_text": Cast(name, models.TextField()) for name in json_fields}
        lookups = [f"{name}__icontains" for name in text_fields] + [f"_{name}_text__icontains" for name in json_fields]
        condition = reduce(or_, (models.Q(**{lookup: marker}) for lookup in lookups for marker in MARKERS))
        # The ids first, then the rows batch by batch: SQLite does not isolate a cursor being read from
        # the writes of its own connection.
        ids = list(manager.annotate(**annotations).filter(condition).values_list("pk", flat=True))
        fields = [*text_fields, *json_fields]
        for start in range(0, len(ids), BATCH):
            changed = []
            for row in manager.filter(pk__in=ids[start : start + BATCH]).only("pk", *fields):
                dirty = False
                for name in fields:
                    value = getattr(row, name)
                    clean = secrets_redact(value) if name in text_fields else value_redact(value)
                    if clean != value:
                        setattr(row, name, clean)
                        dirty = True
                if dirty:
                    changed.append(row)
            if changed:
                manager.bulk_update(changed, fields)


class Migration(migrations.Migration):
    dependencies = [
        ("actions", "0006_action_due_index_in_claim_order"),
        ("safety", "0003_risk_backoff_safety_events"),
        ("accounts", "0002_token_refreshed_at"),
        ("instagram", "0002_processing_since"),
        ("integrations", "0001_initial"),
        ("publishing", "0001_initial"),
    ]

    operations = [migrations.RunPython(_scrub, migrations.RunPython.noop, elidable=True)]
