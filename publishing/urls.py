from django.urls import path

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
    # Uploaded media is never public: members see it here (their workspace's only)...
    path("publishing/media/<int:media_id>/", views.media_file, name="publishing_media"),
    # ...and Meta fetches it through a signed URL that expires (publishing.services.media_url_sign).
    path("media/signed/<str:token>/<str:filename>", views.media_signed, name="publishing_media_signed"),
]
