from django.urls import path

from privacy import activity_views, pages, views

urlpatterns = [
    # Meta's callbacks (App Dashboard > Instagram > Business login settings) and the deletion status page.
    path("instagram/deauthorize/", views.instagram_deauthorize, name="instagram_deauthorize"),
    path("instagram/data-deletion/", views.instagram_data_deletion, name="instagram_data_deletion"),
    path("instagram/data-deletion/<str:confirmation_code>/", views.deletion_status, name="deletion_status"),
    # The owners' pages: disconnect an account (history kept or deleted), delete the workspace.
    path("instagram/accounts/<int:account_id>/disconnect/", pages.account_disconnect_view, name="account_disconnect"),
    path("workspace/delete/", pages.workspace_delete_view, name="workspace_delete"),
    # Owners' and admins' log of who changed which rule, flow, endpoint, setting or member (django-auditlog).
    path("workspace/activity/", activity_views.workspace_activity, name="workspace_activity"),
]
