from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Scheduled publishing"

    def ready(self) -> None:
        from publishing.pipeline import executors_register

        executors_register()
