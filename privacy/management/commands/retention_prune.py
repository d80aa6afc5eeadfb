from math import inf
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from privacy.retention import retention_kinds, retention_prune


class Command(BaseCommand):
    help = (
        "Delete what is older than its retention period (RETENTION_*_DAYS), kind by kind, in short batches, "
        "keeping what exactly-once needs (docs/features/data-lifecycle.md, 'Retention'). The schedule "
        "'privacy: prune by retention' does the same every hour for at most RETENTION_MAX_SECONDS; "
        "this command runs until everything old is gone unless --max-seconds says otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per batch (RETENTION_BATCH_SIZE).")
        parser.add_argument("--max-seconds", type=float, default=None, help="Stop after this long (default: no limit).")

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run: bool = options["dry_run"]
        max_seconds = options["max_seconds"] if options["max_seconds"] is not None else inf
        counts = retention_prune(batch_size=options["batch_size"], max_seconds=max_seconds, dry_run=dry_run)
        verb = "would be deleted" if dry_run else "deleted"
        for kind in retention_kinds():
            if kind.days <= 0:
                self.stdout.write(f"{kind.name}: kept forever ({kind.setting}=0)")
            elif kind.name in counts:
                self.stdout.write(f"{kind.name}: {counts[kind.name]} {verb} (older than {kind.days} days)")
            else:
                self.stdout.write(f"{kind.name}: not reached in this run (--max-seconds); the next run goes on")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"{total} row(s) {verb}."))
