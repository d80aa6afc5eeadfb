from django.urls import path

from safety import views

urlpatterns = [
    path("safety/", views.workspace_safety, name="workspace_safety"),
    path("instagram/accounts/<int:account_id>/safety/", views.account_safety, name="account_safety"),
]
