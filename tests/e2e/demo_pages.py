"""A workspace that looks like the demo's (`make up`), and the product's main pages, for the browser tests of
how every page looks and works (screenshots, phone width, keyboard, accessibility)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings as django_settings
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import InstagramAccount, Membership, User, Workspace
from accounts.tenancy import workspace_scope
from engagement.models import CommentRule
from messaging.models import MessageDirection
from publishing.models import ScheduledPost
from publishing.samples import sample_jpeg
from publishing.services import post_create
from tests.factories import CommentFactory, ConversationFactory, MessageFactory, account_connected_in_sandbox

SCOPES = (
    "instagram_business_basic",
    "instagram_business_manage_comments",
    "instagram_business_manage_messages",
    "instagram_business_content_publish",
)


@dataclass(frozen=True)
class Demo:
    workspace: Workspace
    owner: User
    account: InstagramAccount
    conversation_id: int
    post: ScheduledPost


def demo_seed(workspace: Workspace) -> Demo:
    """The demo bakery: an account connected to the sandbox (warm-up skipped), a rule, comments, two
    conversations with messages both ways, and a post scheduled in two days. Needs a sandbox (live or in-process)
    and MEDIA_ROOT pointed at a temporary folder."""
    owner = Membership.all_workspaces.filter(workspace=workspace).select_related("user").get().user
    account, _ = account_connected_in_sandbox(workspace=workspace, username="demo_bakery", scopes=SCOPES)
    now = timezone.now()
    with workspace_scope(workspace):
        CommentRule.objects.create(
            account=account,
            name="Price questions",
            keywords="price, cost, how much",
            reply_templates="Hi {username}! Croissants are €2.50, see you soon 🥐",
        )
        for index, text in enumerate(["What's the price of a croissant?", "Lovely! 😍", "Are you open on Sunday?"]):
            CommentFactory(account=account, text=text, received_at=now - timedelta(minutes=5 * index + 1))
        conversation = ConversationFactory.create(
            account=account,
            participant_username="hungry_hannah",
            participant_name="Hannah Baker",
            last_message_at=now - timedelta(minutes=2),
            last_inbound_at=now - timedelta(minutes=3),
            last_message_preview="Hi Hannah! Croissants are €2.50; we open 7:00–19:00 🥐",
            last_message_direction=MessageDirection.OUTBOUND,
            tags=["lead"],
        )
        MessageFactory(conversation=conversation, text="How much is a croissant? Do you deliver to the office?")
        MessageFactory(
            conversation=conversation,
            direction=MessageDirection.OUTBOUND,
            text="Hi Hannah! Croissants are €2.50; we open 7:00–19:00 🥐",
        )
        other = ConversationFactory.create(
            account=account,
            participant_username="marco.events",
            last_message_at=now - timedelta(hours=3),
            last_inbound_at=now - timedelta(hours=3),
            last_message_preview="Do you take orders for events?",
            last_message_direction=MessageDirection.INBOUND,
        )
        MessageFactory(conversation=other, text="Do you take orders for events?")
    post = post_create(
        account=account,
        kind="image",
        caption="Fresh sourdough every morning #bakery",
        uploads=[sample_jpeg()],
        scheduled_at=now + timedelta(days=2),
        created_by=owner,
    )
    return Demo(workspace=workspace, owner=owner, account=account, conversation_id=conversation.pk, post=post)


def browser_login(browser: WebDriver, base_url: str, user: User) -> None:
    """Log the browser in as `user` with a session cookie (the login form has its own tests)."""
    client = Client()
    client.force_login(user)
    browser.get(base_url + "/healthz")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})


def main_pages(demo: Demo) -> dict[str, str]:
    """The main pages by a short name (used in screenshot file names), as paths."""
    account_id = demo.account.pk
    pages = {
        "dashboard": reverse("dashboard"),
        "inbox": reverse("conversation_list"),
        "conversation": reverse("conversation_detail", args=[demo.conversation_id]),
        "comments": reverse("comment_list"),
        "calendar": reverse("post_calendar"),
        "calendar-week": f"{reverse('post_calendar')}?view=week&date={demo.post.scheduled_at.date().isoformat()}"
        if demo.post.scheduled_at
        else reverse("post_calendar"),
        "account": reverse("account_detail", args=[account_id]),
        "warmup": reverse("account_warmup", args=[account_id]),
        "safety": reverse("account_safety", args=[account_id]),
        "workspace-safety": reverse("workspace_safety"),
        "ledger": reverse("action_list"),
        "members": reverse("members"),
        "automation": reverse("automation"),
        "compose": reverse("post_compose"),
        "rule": reverse("rule_create", args=[account_id]),
        "integrations": reverse("webhook_endpoints"),
        "alerts": reverse("alert_list"),
    }
    # Pages that arrive with issue 20's other parts: included once their URL exists.
    for name, route, args in (
        ("analytics", "analytics", []),
        ("account-analytics", "account_analytics", [account_id]),
        ("activity", "workspace_activity", []),
    ):
        try:
            pages[name] = reverse(route, args=args)
        except NoReverseMatch:
            continue
    return pages
