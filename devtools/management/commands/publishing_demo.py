from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import AccountState, InstagramAccount
from publishing.samples import sample_jpeg, sample_mp4
from publishing.services import post_create
from publishing.windows import publishing_blocked_reason
from warmup.services import warmup_skip


class Command(BaseCommand):
    help = (
        "Schedule one post of each kind (image, carousel, reel, story) on a demo account, due within a minute, "
        "so the queue, calendar and sandbox show publishing. With --skip-warmup the account first goes to "
        "ACTIVE (an operator's skip, recorded in its lifecycle): publishing is only enabled from warm-up day 7."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--account", default="demo_bakery", help="The account's Instagram username.")
        parser.add_argument("--skip-warmup", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        account = InstagramAccount.all_workspaces.filter(username=options["account"]).first()
        if account is None:
            raise CommandError(f"No account @{options['account']}: run manage.py demo_setup first.")
        if options["skip_warmup"] and account.state != AccountState.ACTIVE:
            warmup_skip(account_id=account.pk, actor=None, reason="publishing demo skips the warm-up")
            account.refresh_from_db()
        soon = timezone.now() + timedelta(seconds=30)
        kinds = [
            ("image", "Fresh croissants this morning #bakery", [sample_jpeg(1080, 1350, name="croissants.jpg")]),
            (
                "carousel",
                "Our week in pictures #bakery #bread",
                [sample_jpeg(name="mon.jpg"), sample_jpeg(1080, 1350, name="tue.jpg", color=(90, 60, 30))],
            ),
            ("reel", "How we fold the dough #reels", [sample_mp4(1080, 1920, 12, name="fold.mp4")]),
            ("story", "", [sample_jpeg(1080, 1920, name="story.jpg")]),
        ]
        for offset, (kind, caption, uploads) in enumerate(kinds):
            post = post_create(
                account=account,
                kind=kind,
                caption=caption,
                first_comment="Order at the shop 🥐" if kind != "story" else "",
                uploads=uploads,
                scheduled_at=soon + timedelta(seconds=10 * offset),
            )
            self.stdout.write(f"Scheduled {kind} post #{post.pk} for {post.scheduled_at:%H:%M:%S} UTC.")
        blocked = publishing_blocked_reason(account)
        if blocked:
            self.stdout.write(self.style.WARNING(f"They wait: {blocked}. Use --skip-warmup to publish now."))
