from django.urls import path

from integrations import views

urlpatterns = [
    path("integrations/", views.endpoint_list, name="webhook_endpoints"),
    path("integrations/endpoints/<int:endpoint_id>/", views.endpoint_edit, name="webhook_endpoint_edit"),
    path("integrations/endpoints/<int:endpoint_id>/delete/", views.endpoint_delete, name="webhook_endpoint_delete"),
    path(
        "integrations/endpoints/<int:endpoint_id>/secret/",
        views.endpoint_secret_reset,
        name="webhook_endpoint_secret_reset",
    ),
    path("integrations/endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="webhook_endpoint_test"),
    path("integrations/deliveries/", views.delivery_list, name="webhook_deliveries"),
    path("integrations/deliveries/<int:delivery_id>/resend/", views.delivery_resend, name="webhook_delivery_resend"),
]
