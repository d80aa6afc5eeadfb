from django.urls import path

from warmup import views

urlpatterns = [
    path("instagram/accounts/<int:account_id>/warmup/", views.account_warmup, name="account_warmup"),
]
