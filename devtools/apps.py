from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Demo set-up, seeding, stress runs and benchmark support: never imported by a product app.

    It may import the product and the sandbox; the product reaches the sandbox only over HTTP, as it reaches
    Meta (the base URLs come from settings). `.importlinter` holds that contract.
    """

    name = "devtools"
    verbose_name = "Developer tools (demo, seeding, stress, benchmarks)"
