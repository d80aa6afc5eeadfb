"""``python manage.py sandbox_simulate --accounts K --comments N --dms M --rate R``: followers under load.

Creates ``K`` sandbox accounts if missing (``sim_account_1`` … ``sim_account_K``,
each with a post), then has followers post ``N`` comments and send ``M`` DMs
spread over those accounts, at ``R`` events per second in total. Every event
sends its signed webhook exactly as the follower pages do. Bounded in time by
``--max-seconds``; prints a summary (and ``--json`` prints it as JSON).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import services
from sandbox.models import SandboxAccount, SandboxMedia, SandboxWebhookDelivery
from sandbox.webhooks import webhook_outbox_flush

PHRASES = ("Price?", "Love it!", "Do you ship to Berlin?", "Is it vegan?", "How much is this?", "😍😍", "Info please")


class Command(BaseCommand):
    help = "Drive follower load at the sandbox: comments and DMs with their webhooks, at a fixed rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--accounts", type=int, default=1, help="Sandbox accounts to spread the load over.")
        parser.add_argument("--comments", type=int, default=10, help="Comments to post in total.")
        parser.add_argument("--dms", type=int, default=0, help="Direct messages to send in total.")
        parser.add_argument("--rate", type=float, default=5.0, help="Events per second, in total.")
        parser.add_argument("--followers", type=int, default=50, help="Distinct follower usernames to use.")
        parser.add_argument("--prefix", default="sim_account_", help="Username prefix of the simulated accounts.")
        parser.add_argument("--max-seconds", type=float, default=600.0, help="Stop after this long, done or not.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a repeatable run.")
        parser.add_argument("--json", action="store_true", help="Print the summary as one JSON line.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["accounts"] < 1 or options["rate"] <= 0 or options["comments"] < 0 or options["dms"] < 0:
            raise CommandError("--accounts must be at least 1, --rate above 0, --comments and --dms not negative.")
        randomness = random.Random(options["seed"])
        accounts = [
            services.sandbox_account_create(username=f"{options['prefix']}{number}")
            for number in range(1, options["accounts"] + 1)
        ]
        posts = {account.pk: SandboxMedia.objects.filter(account=account).first() for account in accounts}
        events = ["comment"] * options["comments"] + ["dm"] * options["dms"]
        randomness.shuffle(events)
        last_delivery_before = SandboxWebhookDelivery.objects.order_by("-id").values_list("id", flat=True).first() or 0
        interval = 1.0 / options["rate"]
        started = time.monotonic()
        done = {"comment": 0, "dm": 0}
        for index, kind in enumerate(events):
            due = started + index * interval
            if due - started > options["max_seconds"]:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            account = randomness.choice(accounts)
            follower = f"fan_{randomness.randrange(options['followers'])}"
            text = randomness.choice(PHRASES)
            self._event(kind=kind, account=account, post=posts[account.pk], follower=follower, text=text)
            done[kind] += 1
        webhook_outbox_flush()
        elapsed = time.monotonic() - started
        deliveries = SandboxWebhookDelivery.objects.filter(pk__gt=last_delivery_before)
        new = deliveries.count()
        failed = deliveries.exclude(status__gte=200, status__lt=300).count()
        summary = {
            "accounts": len(accounts),
            "comments": done["comment"],
            "dms": done["dm"],
            "seconds": round(elapsed, 2),
            "events_per_s": round((done["comment"] + done["dm"]) / elapsed, 2) if elapsed else 0.0,
            "webhook_posts": new,
            "webhook_posts_failed": failed,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(
            f"{summary['comments']} comments and {summary['dms']} DMs over {summary['accounts']} account(s) in "
            f"{summary['seconds']} s ({summary['events_per_s']}/s); {summary['webhook_posts']} webhook POSTs, "
            f"{summary['webhook_posts_failed']} failed."
        )

    def _event(
        self, *, kind: str, account: SandboxAccount, post: SandboxMedia | None, follower: str, text: str
    ) -> None:
        if kind == "comment" and post is not None:
            services.sandbox_comment_post(media=post, from_username=follower, text=text)
        else:
            services.sandbox_follower_message(account=account, from_username=follower, text=text)
