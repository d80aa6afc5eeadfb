from typing import Any

from django.core.management.base import BaseCommand, CommandError

from publishing.storage import MediaStorageUnusable, media_storage_probe


class Command(BaseCommand):
    help = (
        "Check the media storage post files go to (local disk, or the S3-compatible store AWS_STORAGE_BUCKET_NAME "
        "names): write a small object, read it back, make the URL Meta would fetch it from, delete it. Run it "
        "after configuring the store. Prints where files go and the host Meta fetches from, never a credential; "
        "exits with an error, and the store's reason, at the first step that fails."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = media_storage_probe()
        except MediaStorageUnusable as exc:
            raise CommandError(f"Media storage failed at {exc}") from exc
        self.stdout.write(f"Storage: {report.backend}, {report.where}")
        for step in report.steps:
            self.stdout.write(f"- {step}")
        if not report.fetch_host_public:
            self.stdout.write(
                self.style.WARNING(
                    f"{report.fetch_host} is not a public address: Meta's servers cannot fetch post media from it "
                    "(fine for the demo and tests, not for publishing on Instagram)."
                )
            )
        if not report.shared:
            self.stdout.write(
                self.style.WARNING(
                    "Files stay on this host's disk: with several web hosts, configure an S3-compatible store "
                    "(docs/operations.md, 'Media storage')."
                )
            )
        self.stdout.write(self.style.SUCCESS("Media storage works."))
