"""The sandbox's own URLconf, served by ``sandbox.server.SandboxHandler`` on its own port.

Graph paths take an optional version prefix (``/v24.0/me`` and ``/me``), as
graph.instagram.com does.
"""

from django.urls import path, re_path

from sandbox.views import graph, oauth, pages

VERSION = r"(?:v\d+\.\d+/)?"

urlpatterns = [
    # Follower pages (HTML).
    path("", pages.home, name="sandbox-home"),
    path("accounts/", pages.account_create, name="sandbox-account-create"),
    path("u/<str:username>/", pages.account, name="sandbox-account"),
    path("u/<str:username>/posts/", pages.media_create, name="sandbox-media-create"),
    path("u/<str:username>/posts/<str:media_id>/comments/", pages.comment_post, name="sandbox-comment-post"),
    path("u/<str:username>/revoke/", pages.tokens_revoke, name="sandbox-tokens-revoke"),
    path("log/", pages.log, name="sandbox-log"),
    # Business Login: www.instagram.com and api.instagram.com.
    path("oauth/authorize", oauth.authorize, name="sandbox-oauth-authorize"),
    path("oauth/access_token", graph.oauth_access_token, name="sandbox-oauth-access-token"),
    # graph.instagram.com
    path("access_token", graph.access_token, name="sandbox-access-token"),
    path("refresh_access_token", graph.refresh_access_token, name="sandbox-refresh-access-token"),
    re_path(rf"^{VERSION}me/?$", graph.me, name="sandbox-me"),
    re_path(rf"^{VERSION}(?P<comment_id>\d+)/replies/?$", graph.comment_replies, name="sandbox-comment-replies"),
    # Any other versioned path, or numeric object, is an object the token cannot see.
    re_path(r"^v\d+\.\d+/(?P<object_id>[^/]+)(?:/[^/]+)?/?$", graph.unknown_object),
    re_path(r"^(?P<object_id>\d+)(?:/[^/]+)?/?$", graph.unknown_object),
]
