from django.apps import AppConfig


class WarmupConfig(AppConfig):
    name = "warmup"
    verbose_name = "Warm-up"
