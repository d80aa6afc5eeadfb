from django.apps import AppConfig


class WarmupConfig(AppConfig):
    name = "warmup"
    verbose_name = "Warm-up"

    def ready(self) -> None:
        from accounts.services import account_connected_subscribe
        from warmup.services import warmup_plan_start_on_connect

        account_connected_subscribe(warmup_plan_start_on_connect)
