from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "CRM webhooks"

    def ready(self) -> None:
        from integrations.subscribers import conversation_event_forward
        from messaging.events import conversation_event_subscribe

        conversation_event_subscribe(conversation_event_forward)
