from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "engagement"
    verbose_name = "Comments"

    def ready(self) -> None:
        from actions.specs import action_specs_register
        from engagement.executors import ACTION_SPECS
        from engagement.services import comments_event_handle, comments_events_handle_many, mentions_event_handle
        from instagram.events import register_batch_handler, register_handler

        register_handler("comments", comments_event_handle)
        register_batch_handler("comments", comments_events_handle_many)
        register_handler("mentions", mentions_event_handle)
        action_specs_register(ACTION_SPECS)
