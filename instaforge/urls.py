from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("observability.urls")),  # /healthz, /readyz, /metrics
    path("accounts/", include("allauth.urls")),
    path("webhooks/", include("instagram.urls")),
    path("", include("accounts.urls")),
    path("", include("engagement.urls")),
    path("", include("messaging.urls")),
    path("", include("actions.urls")),
    path("", include("safety.urls")),
    path("", include("warmup.urls")),
    path("", include("integrations.urls")),
    path("", include("publishing.urls")),
    path("", include("alerts.urls")),
    path("", include("privacy.urls")),
    path("", include("analytics.urls")),
]
