"""Fixtures of the publishing tests: an account connected to the sandbox, media files, a dispatcher loop."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image

from accounts.models import AccountState, InstagramAccount, Workspace
from actions.dispatcher.loop import dispatch_once
from actions.models import Action, ActionState
from publishing.mediainfo import mp4_build
from publishing.models import PostState, ScheduledPost
from publishing.services import Upload
from safety.services import policy_override_set
from sandbox import services as sandbox_services
from sandbox.models import SandboxAccount

SCOPES = [
    "instagram_business_basic",
    "instagram_business_manage_comments",
    "instagram_business_manage_messages",
    "instagram_business_content_publish",
]


def jpeg(width: int = 1080, height: int = 1080, name: str = "photo.jpg", image_format: str = "JPEG") -> Upload:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=image_format)
    return Upload(name=name, stream=io.BytesIO(buffer.getvalue()), size=len(buffer.getvalue()))


def mp4(width: int = 1080, height: int = 1920, seconds: float = 10, name: str = "clip.mp4") -> Upload:
    data = mp4_build(width=width, height=height, seconds=seconds)
    return Upload(name=name, stream=io.BytesIO(data), size=len(data))


def connect(workspace: Workspace, make_account: Callable[..., InstagramAccount], username: str) -> InstagramAccount:
    """An InstaForge account holding a real sandbox token of a new sandbox account."""
    sandbox_account = sandbox_services.sandbox_account_create(username=username)
    code = sandbox_services.sandbox_authorize(
        account=sandbox_account, redirect_uri="https://app.example.com/cb/", scopes=SCOPES
    )
    token = sandbox_services.sandbox_code_exchange(
        client_id=settings.INSTAGRAM_APP_ID,
        client_secret=settings.INSTAGRAM_APP_SECRET,
        grant_type="authorization_code",
        redirect_uri="https://app.example.com/cb/",
        code=code,
    )
    return make_account(
        workspace, state=AccountState.ACTIVE, token=token.token, ig_user_id=sandbox_account.user_id, username=username
    )


def sandbox_account_of(account: InstagramAccount) -> SandboxAccount:
    return SandboxAccount.objects.get(user_id=account.ig_user_id)


def run_until_settled(*, seconds: float = 30.0, now_shift: timedelta = timedelta(0)) -> None:
    """Dispatch until every post is published or failed (steps due in the future are run early by ``now_shift``)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        open_posts = ScheduledPost.all_workspaces.exclude(
            state__in=[PostState.PUBLISHED, PostState.FAILED, PostState.DRAFT]
        )
        open_actions = Action.all_workspaces.exclude(
            state__in=[ActionState.SUCCEEDED, ActionState.FAILED, ActionState.DENIED]
        )
        if not open_posts.exists() and not open_actions.exists():
            return
        if dispatch_once(worker_id="test", now=timezone.now() + now_shift) == 0:
            time.sleep(0.05)
    raise AssertionError(
        f"not settled: {list(ScheduledPost.all_workspaces.values('id', 'state', 'state_reason'))} "
        f"{list(Action.all_workspaces.exclude(state='succeeded').values('id', 'state', 'last_reason', 'payload'))}"
    )


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def policy_relax(workspace: Workspace) -> None:
    """The tests publish many steps a minute: no burst window, roomy hourly limits (Meta's ceilings still hold)."""
    policy_override_set(
        workspace_id=workspace.pk,
        values={"burst.per_account.window_seconds": 0, "per_account.max_actions_per_hour": 500},
        actor=None,
    )


@pytest.fixture
def publisher(sandbox_server, workspace, make_account, media_root) -> InstagramAccount:
    policy_relax(workspace)
    return connect(workspace, make_account, "bakery.publishes")
