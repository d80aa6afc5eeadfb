from django.apps import AppConfig


class PublishingConfig(AppConfig):
    name = "publishing"
    verbose_name = "Scheduled publishing"

    def ready(self) -> None:
        from actions.specs import action_specs_register
        from publishing import checks  # noqa: F401  (registers the system checks)
        from publishing.executors import ACTION_SPECS

        action_specs_register(ACTION_SPECS)
