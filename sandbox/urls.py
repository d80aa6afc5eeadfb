"""The sandbox's own URLconf, served by ``sandbox.server.SandboxHandler`` on its own port.

Graph paths take an optional version prefix (``/v24.0/me`` and ``/me``), as
graph.instagram.com does.
"""

from django.urls import path, re_path

from sandbox.views import control, graph, oauth, pages, platform

VERSION = r"(?:v\d+\.\d+/)?"
# The account itself: "me", or its Instagram user id / app-scoped id (checked by the views).
OWNER = r"(?P<owner>me|\d+)"

urlpatterns = [
    # Follower pages (HTML).
    path("", pages.home, name="sandbox-home"),
    path("accounts/", pages.account_create, name="sandbox-account-create"),
    path("u/<str:username>/", pages.account, name="sandbox-account"),
    path("u/<str:username>/posts/", pages.media_create, name="sandbox-media-create"),
    path("u/<str:username>/posts/<str:media_id>/comments/", pages.comment_post, name="sandbox-comment-post"),
    path("u/<str:username>/messages/", pages.dm_post, name="sandbox-dm-post"),
    path("u/<str:username>/revoke/", pages.tokens_revoke, name="sandbox-tokens-revoke"),
    path("u/<str:username>/remove-app/", pages.app_remove, name="sandbox-app-remove"),
    path("u/<str:username>/delete-my-data/", pages.data_deletion_request, name="sandbox-data-deletion"),
    path("log/", pages.log, name="sandbox-log"),
    # The control API (fault injection, knobs): sandbox only, never on Meta.
    path("_control/faults", control.faults, name="sandbox-control-faults"),
    path("_control/faults/<int:fault_id>", control.fault_delete, name="sandbox-control-fault"),
    path("_control/settings", control.sandbox_settings, name="sandbox-control-settings"),
    path("_control/webhooks/flush", control.webhooks_flush, name="sandbox-control-webhooks-flush"),
    # Business Login: www.instagram.com and api.instagram.com.
    path("oauth/authorize", oauth.authorize, name="sandbox-oauth-authorize"),
    path("oauth/access_token", graph.oauth_access_token, name="sandbox-oauth-access-token"),
    # graph.instagram.com
    path("access_token", graph.access_token, name="sandbox-access-token"),
    path("refresh_access_token", graph.refresh_access_token, name="sandbox-refresh-access-token"),
    re_path(rf"^{VERSION}me/?$", graph.me, name="sandbox-me"),
    re_path(rf"^{VERSION}(?P<comment_id>\d+)/replies/?$", graph.comment_replies, name="sandbox-comment-replies"),
    re_path(rf"^{VERSION}{OWNER}/media/?$", platform.user_media, name="sandbox-user-media"),
    re_path(rf"^{VERSION}{OWNER}/stories/?$", platform.user_stories, name="sandbox-user-stories"),
    re_path(rf"^{VERSION}{OWNER}/media_publish/?$", platform.media_publish, name="sandbox-media-publish"),
    re_path(rf"^{VERSION}{OWNER}/messages/?$", platform.messages, name="sandbox-messages"),
    re_path(rf"^{VERSION}{OWNER}/conversations/?$", platform.conversations, name="sandbox-conversations"),
    re_path(rf"^{VERSION}{OWNER}/messenger_profile/?$", platform.messenger_profile, name="sandbox-messenger-profile"),
    re_path(
        rf"^{VERSION}{OWNER}/content_publishing_limit/?$",
        platform.content_publishing_limit,
        name="sandbox-content-publishing-limit",
    ),
    re_path(rf"^{VERSION}(?P<object_id>me|\d+)/insights/?$", platform.insights, name="sandbox-insights"),
    re_path(rf"^{VERSION}(?P<media_id>\d+)/comments/?$", platform.media_comments, name="sandbox-media-comments"),
    re_path(rf"^{VERSION}(?P<object_id>[A-Za-z0-9_-]+)/?$", platform.node, name="sandbox-node"),
    # Any other versioned path, or numeric object, is an object the token cannot see.
    re_path(r"^v\d+\.\d+/(?P<object_id>[^/]+)(?:/[^/]+)?/?$", graph.unknown_object),
    re_path(r"^(?P<object_id>\d+)(?:/[^/]+)?/?$", graph.unknown_object),
]
