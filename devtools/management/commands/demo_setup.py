"""Create the demo: an operator, a member, a workspace and an Instagram account connected to the sandbox.

The demo account's 7-day warm-up is skipped by the operator (reason "demo account"), so
it answers comments at once; any account a person connects in the demo warms up normally.

Idempotent: run it again and it changes nothing that is already there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.test.utils import override_settings

from accounts.lifecycle import ACTING_STATES
from accounts.models import InstagramAccount, Membership, Role, User, Workspace
from accounts.services import account_connect_complete
from accounts.tenancy import workspace_scope
from engagement.models import CommentRule, CommentSettings
from messaging.ice_breakers import ice_breakers_save
from messaging.models import DmRule, IceBreakerSet
from sandbox.server import SandboxHandler
from sandbox.services import sandbox_account_create, sandbox_authorize
from warmup.services import warmup_skip

OPERATOR = ("operator@instaforge.local", "operator-demo-pass")
MEMBER = ("member@instaforge.local", "member-demo-pass")
WORKSPACE_NAME = "Demo Bakery"
DEMO_USERNAME = "demo_bakery"
DEMO_WARMUP_SKIP_REASON = "demo account"
DEMO_ICE_BREAKERS = ["How much is a croissant?", "When are you open?", "Do you take orders for events?"]


@contextmanager
def sandbox_for_setup() -> Iterator[str]:
    """The sandbox on a free local port for the duration of the setup (the real one starts with `make up`)."""
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(SandboxHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with override_settings(
            INSTAGRAM_GRAPH_URL=url,
            INSTAGRAM_OAUTH_AUTHORIZE_URL=f"{url}/oauth/authorize",
            INSTAGRAM_OAUTH_TOKEN_URL=f"{url}/oauth/access_token",
        ):
            yield url
    finally:
        server.shutdown()
        server.server_close()


def _user(email: str, password: str, *, operator: bool) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        factory = User.objects.create_superuser if operator else User.objects.create_user
        user = factory(email=email, password=password)
    # Logins need a verified address (sign-up confirms it by email); the demo's are verified from the start.
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


class Command(BaseCommand):
    help = "Create the demo workspace, logins and a sandbox Instagram account connected through Instagram Login."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG or not settings.INSTAGRAM_SANDBOX:
            # The demo's logins have published passwords: never on a production database.
            raise CommandError(
                "demo_setup creates logins with published passwords and runs only in demo mode "
                "(DEBUG=true with the Instagram sandbox, as `make up` sets); this process is production."
            )
        operator = _user(*OPERATOR, operator=True)
        member = _user(*MEMBER, operator=False)
        membership = Membership.all_workspaces.filter(user=member).select_related("workspace").first()
        if membership is None:
            workspace = Workspace.objects.create(name=WORKSPACE_NAME, created_by=member)
            Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.OWNER)
        else:
            workspace = membership.workspace

        sandbox_account = sandbox_account_create(username=DEMO_USERNAME, name="Demo Bakery 🥐")
        account = InstagramAccount.all_workspaces.filter(ig_user_id=sandbox_account.user_id).first()
        if account is None or account.state not in ACTING_STATES:
            with sandbox_for_setup():
                redirect_uri = f"{settings.SITE_URL}/instagram/callback/"
                code = sandbox_authorize(
                    account=sandbox_account, redirect_uri=redirect_uri, scopes=settings.INSTAGRAM_OAUTH_SCOPES
                )
                account = account_connect_complete(
                    workspace=workspace, code=code, redirect_uri=redirect_uri, actor=member
                )
            self.stdout.write(f"Connected @{account.username} to the sandbox: {account.get_state_display()}.")
        if account.warmup_day is not None:
            # The demo account answers at once; accounts a person connects in the demo still warm up for 7 days.
            warmup_skip(account_id=account.pk, actor=operator, reason=DEMO_WARMUP_SKIP_REASON)
            account.refresh_from_db()
            self.stdout.write(
                f"Skipped the warm-up of @{account.username} as the operator {operator} "
                f"(reason: “{DEMO_WARMUP_SKIP_REASON}”): {account.get_state_display()}."
            )

        with workspace_scope(workspace):
            if not CommentRule.objects.filter(account=account).exists():
                CommentRule.objects.create(
                    account=account,
                    name="Price questions",
                    keywords="price, cost, how much, preço",
                    reply_templates=(
                        "Hi {username}! Croissants are €2.50, see you soon 🥐\n"
                        "Thanks {username}! Our prices are in the bio, croissants €2.50."
                    ),
                )
            if not CommentSettings.objects.filter(account=account).exists():
                CommentSettings.objects.create(account=account, auto_hide_spam=True)
            if not DmRule.objects.filter(account=account).exists():
                DmRule.objects.create(
                    account=account,
                    name="Prices and opening hours",
                    keywords="price, how much, croissant, open, hours",
                    reply_templates="Hi {username}! Croissants are €2.50; we open 7:00–19:00, Monday to Saturday 🥐",
                )
        if not IceBreakerSet.all_workspaces.filter(account=account).exists():
            # Sent to the sandbox by the dispatcher once the product runs; tap them on the sandbox's account page.
            ice_breakers_save(account=account, questions=DEMO_ICE_BREAKERS, actor=member)

        site = settings.SITE_URL
        self.stdout.write(
            self.style.SUCCESS("\nInstaForge demo is ready.\n")
            + f"  Web app:   {site}/   member login  {MEMBER[0]} / {MEMBER[1]}\n"
            + f"  Admin:     {site}/admin/   operator login  {OPERATOR[0]} / {OPERATOR[1]}\n"
            + f"  Sandbox:   {settings.SANDBOX_URL}/u/{DEMO_USERNAME}/\n"
            + "             comment there as a follower, e.g. “what's the price?” (or “free followers at bit.ly/x”,\n"
            + "             hidden as spam), or tap an ice breaker\n"
            + "  The reply appears under the comment in the sandbox and on the account's page in the web app.\n"
        )
