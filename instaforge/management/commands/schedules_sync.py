from typing import Any

from django.core.management.base import BaseCommand

from instaforge.schedules import schedules_sync


class Command(BaseCommand):
    help = "Create, update and remove django-q2 schedules so they match instaforge/schedules.py."

    def handle(self, *args: Any, **options: Any) -> None:
        for line in schedules_sync():
            self.stdout.write(line)
