from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Direct messages"

    def ready(self) -> None:
        from actions.specs import action_specs_register
        from instagram.events import register_handler
        from messaging.executors import ACTION_SPECS
        from messaging.services import messaging_event_handle

        action_specs_register(ACTION_SPECS)

        # Messaging items are stored under "messaging" (one handler routes them by kind); the App
        # Dashboard's test notifications arrive as "messages" changes and parse the same way.
        register_handler("messaging", messaging_event_handle)
        register_handler("messages", messaging_event_handle)
