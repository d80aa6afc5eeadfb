from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Comments"

    def ready(self) -> None:
        from engagement.executors import executors_register
        from engagement.services import comments_event_handle, mentions_event_handle
        from instagram.events import register_handler

        register_handler("comments", comments_event_handle)
        register_handler("mentions", mentions_event_handle)
        executors_register()
