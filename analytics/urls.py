from django.urls import path

from analytics import insights_views, views

urlpatterns = [
    path("analytics/", views.workspace_analytics, name="analytics"),
    path("instagram/accounts/<int:account_id>/analytics/", views.account_analytics, name="account_analytics"),
    path(
        "instagram/accounts/<int:account_id>/analytics/insights/refresh/",
        insights_views.insights_refresh_now,
        name="insights_refresh_now",
    ),
]
