"""The admin app with InstaForge's site (INSTALLED_APPS names this config instead of django.contrib.admin)."""

from django.contrib.admin.apps import AdminConfig


class InstaForgeAdminConfig(AdminConfig):
    """``admin.site`` is InstaForgeAdminSite: no login form of its own, a second factor for staff."""

    default_site = "instaforge.admin_site.InstaForgeAdminSite"
