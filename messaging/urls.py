from django.urls import path

from messaging import views

urlpatterns = [
    path("inbox/", views.conversation_list, name="conversation_list"),
    path("inbox/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("inbox/<int:conversation_id>/reply/", views.conversation_reply_post, name="conversation_reply"),
    path("inbox/<int:conversation_id>/state/", views.conversation_state_post, name="conversation_state"),
    path("inbox/<int:conversation_id>/assign/", views.conversation_assign_post, name="conversation_assign"),
    path("inbox/<int:conversation_id>/notes/", views.conversation_note_post, name="conversation_note"),
]
