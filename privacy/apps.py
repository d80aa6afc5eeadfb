from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = "Data lifecycle (deletion, disconnection, retention)"

    def ready(self) -> None:
        # The audit trail follows workspaces, accounts, members, invitations, rules, flows, CRM endpoints and
        # settings, secrets left out (privacy/audit.py says which, and why it costs nothing on the hot paths).
        from privacy.audit import audit_models_register

        audit_models_register()
