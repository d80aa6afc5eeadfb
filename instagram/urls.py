from django.urls import path

from instagram import views

urlpatterns = [
    path("instagram/", views.instagram_webhook, name="instagram_webhook"),
]
