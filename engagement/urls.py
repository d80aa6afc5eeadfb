from django.urls import path

from engagement import views

urlpatterns = [
    path("instagram/accounts/<int:account_id>/rules/new/", views.rule_edit, name="rule_create"),
    path("instagram/accounts/<int:account_id>/rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("instagram/accounts/<int:account_id>/rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("instagram/accounts/<int:account_id>/comment-settings/", views.comment_settings, name="comment_settings"),
    path("comments/", views.comment_list, name="comment_list"),
    path("comments/review/", views.comment_review_list, name="comment_review_list"),
    path("comments/<int:comment_id>/", views.comment_detail, name="comment_detail"),
    path("comments/<int:comment_id>/review/", views.comment_review_decide, name="comment_review"),
]
