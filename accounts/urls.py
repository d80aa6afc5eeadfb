from django.urls import path

from accounts import preferences, team, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("workspaces/new/", views.workspace_create_view, name="workspace_create"),
    path("me/", preferences.me, name="me"),
    path("workspaces/switch/", views.workspace_switch, name="workspace_switch"),
    path("workspace/members/", team.members, name="members"),
    path("workspace/members/<int:membership_id>/role/", team.member_role_change, name="member_role_change"),
    path("workspace/members/<int:membership_id>/remove/", team.member_remove, name="member_remove"),
    path("workspace/invitations/<int:invitation_id>/revoke/", team.invitation_revoke_view, name="invitation_revoke"),
    path("workspace/invitations/<int:invitation_id>/resend/", team.invitation_resend_view, name="invitation_resend"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
    path("instagram/connect/", views.instagram_connect, name="instagram_connect"),
    path("instagram/callback/", views.instagram_callback, name="instagram_callback"),
    path("instagram/accounts/<int:account_id>/", views.account_detail, name="account_detail"),
    path("instagram/accounts/<int:account_id>/figures/", views.account_figures, name="account_figures"),
    path("instagram/accounts/<int:account_id>/time-zone/", preferences.account_time_zone, name="account_time_zone"),
    path("instagram/accounts/<int:account_id>/pause/", views.account_pause_view, name="account_pause"),
    path("instagram/accounts/<int:account_id>/resume/", views.account_resume_view, name="account_resume"),
]
