from django.urls import path, re_path

from publishing import views

urlpatterns = [
    path("publishing/", views.post_list, name="post_list"),
    path("publishing/new/", views.post_compose, name="post_compose"),
    path("publishing/calendar/", views.post_calendar, name="post_calendar"),
    path("publishing/import/", views.post_import, name="post_import"),
    path("publishing/posts/<int:post_id>/", views.post_detail, name="post_detail"),
    path("publishing/posts/<int:post_id>/edit/", views.post_edit_view, name="post_edit"),
    path("publishing/posts/<int:post_id>/schedule/", views.post_schedule_view, name="post_schedule"),
    path("publishing/posts/<int:post_id>/unschedule/", views.post_unschedule_view, name="post_unschedule"),
    path("publishing/posts/<int:post_id>/move/", views.post_move, name="post_move"),
    # Uploaded media on local disk, public so that Meta can fetch it (PUBLIC_BASE_URL + MEDIA_URL).
    re_path(r"^media/(?P<path>publishing/.+)$", views.media_serve, name="publishing_media"),
]
