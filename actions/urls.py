from django.urls import path

from actions import views

urlpatterns = [
    path("ledger/", views.action_list, name="action_list"),
    path("ledger/<int:action_id>/", views.action_detail, name="action_detail"),
]
