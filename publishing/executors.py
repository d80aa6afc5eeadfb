"""The action types of publishing: the steps of a post (prepare, check, publish) and its first comment.

Declared once each as an ``ActionSpec`` and registered from ``PublishingConfig.ready``;
how the steps run and are reconciled is ``publishing.pipeline``. A prepare
step consumes Meta's media container limit (400 per account in 24 hours) by
the containers it creates: a carousel of N items N + 1, any other post one.
"""

from __future__ import annotations

from typing import Any

from actions.models import ActionType
from actions.specs import ActionSpec, LimitUse
from publishing.pipeline import (
    FirstCommentPayload,
    PublishPayload,
    first_comment_reconcile,
    first_comment_run,
    publish_reconcile,
    publish_run,
)
from safety.policies import MEDIA_CONTAINERS

ACTION_SPECS: tuple[ActionSpec[Any], ...] = (
    ActionSpec(
        action_type=ActionType.PUBLISH,
        payload=PublishPayload,
        run=publish_run,
        reconcile=publish_reconcile,
        capability="all",
        policy_key=None,
        content=True,
        limits=(LimitUse(MEDIA_CONTAINERS, units="containers"),),
    ),
    ActionSpec(
        action_type=ActionType.FIRST_COMMENT,
        payload=FirstCommentPayload,
        run=first_comment_run,
        reconcile=first_comment_reconcile,
        capability="all",
        policy_key=None,
        content=True,
        limits=(),
    ),
)
