from django.urls import path

from messaging import views

urlpatterns = [
    path("inbox/", views.conversation_list, name="conversation_list"),
    path("inbox/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("inbox/<int:conversation_id>/reply/", views.conversation_reply_post, name="conversation_reply"),
    path("inbox/<int:conversation_id>/state/", views.conversation_state_post, name="conversation_state"),
    path("inbox/<int:conversation_id>/assign/", views.conversation_assign_post, name="conversation_assign"),
    path("inbox/<int:conversation_id>/notes/", views.conversation_note_post, name="conversation_note"),
    path("automation/", views.automation_home, name="automation"),
    path("automation/settings/", views.messaging_settings_edit, name="messaging_settings"),
    path("automation/ice-breakers/<int:account_id>/", views.ice_breakers_edit, name="ice_breakers_edit"),
    path("automation/flows/new/", views.flow_create, name="flow_create"),
    path("automation/flows/<int:flow_id>/", views.flow_edit, name="flow_edit"),
    path("automation/flows/<int:flow_id>/v<int:number>/", views.flow_version_detail, name="flow_version"),
    path("automation/rules/new/", views.dm_rule_create, name="dm_rule_create"),
    path("automation/rules/<int:rule_id>/", views.dm_rule_edit, name="dm_rule_edit"),
    path("automation/rules/<int:rule_id>/delete/", views.dm_rule_delete, name="dm_rule_delete"),
]
