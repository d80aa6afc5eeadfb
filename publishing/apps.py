from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Scheduled publishing"

    def ready(self) -> None:
        from actions.specs import action_specs_register
        from publishing.executors import ACTION_SPECS

        action_specs_register(ACTION_SPECS)
