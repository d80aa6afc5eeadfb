"""The sandbox's state in the operators' admin: read-only, with every secret masked.

The sandbox plays Meta, so its tokens and codes are the plaintext of what
InstaForge keeps encrypted: they are shown only as a short prefix, and
token-like keys in the calls log are masked too.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.utils.safestring import SafeString
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import AllValuesCheckboxFilter
from unfold.decorators import display

from instaforge.admin_helpers import ReadOnlyAdminMixin, json_block
from sandbox.models import (
    SandboxAccount,
    SandboxAuthCode,
    SandboxCall,
    SandboxComment,
    SandboxMedia,
    SandboxToken,
    SandboxWebhookDelivery,
)

SECRET_KEYS = frozenset({"access_token", "client_secret", "code", "token", "appsecret_proof"})
VISIBLE_PREFIX = 6


def mask(secret: str) -> str:
    """A recognisable prefix of a secret, never the secret."""
    if not secret:
        return "-"
    return f"{secret[:VISIBLE_PREFIX]}… (hidden)"


def masked(value: Any) -> Any:
    """``value`` with every secret-named key's value masked, at any depth."""
    if isinstance(value, dict):
        return {key: mask(str(item)) if key in SECRET_KEYS and item else masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


class SandboxReadOnlyAdmin(ReadOnlyAdminMixin, ModelAdmin):
    show_full_result_count = False


@admin.register(SandboxAccount)
class SandboxAccountAdmin(SandboxReadOnlyAdmin):
    list_display = ("username", "user_id", "name", "account_type", "created_at")
    search_fields = ("username", "=user_id")


@admin.register(SandboxMedia)
class SandboxMediaAdmin(SandboxReadOnlyAdmin):
    list_display = ("media_id", "account", "media_type", "media_product_type", "timestamp")
    list_select_related = ("account",)
    search_fields = ("=media_id", "caption", "account__username")


@admin.register(SandboxComment)
class SandboxCommentAdmin(SandboxReadOnlyAdmin):
    list_display = ("comment_id", "from_username", "text", "media", "parent", "via_api", "timestamp")
    list_select_related = ("media", "parent")
    list_filter = ("via_api",)
    search_fields = ("=comment_id", "from_username", "text")


@admin.register(SandboxAuthCode)
class SandboxAuthCodeAdmin(SandboxReadOnlyAdmin):
    list_display = ("code_masked", "account", "redirect_uri", "created_at", "used_at")
    list_select_related = ("account",)
    fields = ("code_masked", "account", "redirect_uri", "scopes", "created_at", "used_at")
    readonly_fields = ("code_masked",)

    @display(description="code")
    def code_masked(self, code: SandboxAuthCode) -> str:
        return mask(code.code)


@admin.register(SandboxToken)
class SandboxTokenAdmin(SandboxReadOnlyAdmin):
    list_display = ("token_masked", "account", "kind", "created_at", "expires_at", "revoked")
    list_select_related = ("account",)
    list_filter = ("kind", "revoked")
    search_fields = ("account__username",)
    fields = ("token_masked", "account", "kind", "scopes", "created_at", "expires_at", "revoked")
    readonly_fields = ("token_masked",)

    @display(description="token")
    def token_masked(self, token: SandboxToken) -> str:
        return mask(token.token)


@admin.register(SandboxCall)
class SandboxCallAdmin(SandboxReadOnlyAdmin):
    """The received-calls log: what InstaForge really sent to "Instagram"."""

    list_display = ("at", "method", "path", "account", "status")
    list_select_related = ("account",)
    list_filter = (("method", AllValuesCheckboxFilter), ("status", AllValuesCheckboxFilter))
    list_filter_submit = True
    search_fields = ("path",)
    fields = ("at", "method", "path", "account", "status", "params_display", "response_display")
    readonly_fields = ("params_display", "response_display")

    @display(description="parameters")
    def params_display(self, call: SandboxCall) -> SafeString:
        return json_block(masked(call.params))

    @display(description="response")
    def response_display(self, call: SandboxCall) -> SafeString:
        return json_block(masked(call.response))


@admin.register(SandboxWebhookDelivery)
class SandboxWebhookDeliveryAdmin(SandboxReadOnlyAdmin):
    list_display = ("at", "url", "status", "is_delivered", "attempts", "error")
    fields = ("at", "url", "status", "attempts", "error", "signature", "body_display")
    readonly_fields = ("body_display",)

    @display(description="delivered", boolean=True)
    def is_delivered(self, delivery: SandboxWebhookDelivery) -> bool:
        return delivery.delivered

    @display(description="body")
    def body_display(self, delivery: SandboxWebhookDelivery) -> SafeString:
        try:
            return json_block(json.loads(delivery.body))
        except ValueError:
            return json_block(delivery.body)
