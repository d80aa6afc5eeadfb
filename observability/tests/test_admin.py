"""Operators see the heartbeats in the admin, read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.test import Client

from observability.models import Heartbeat, HeartbeatRole
from observability.services import heartbeat_beat


def test_operators_see_each_process_heartbeat(
    client: Client, make_user: Callable[..., Any], admin_login: Callable[..., None]
) -> None:
    operator = make_user("operator@instaforge.example")
    operator.is_staff = operator.is_superuser = True
    operator.save()
    heartbeat_beat(role=HeartbeatRole.DISPATCHER, name="web-1:4242", force=True)
    admin_login(client, operator)

    page = client.get("/admin/observability/heartbeat/")
    assert page.status_code == 200
    assert "web-1:4242" in page.content.decode()
    assert client.get("/admin/observability/heartbeat/add/").status_code == 403  # written by processes only
    beat = Heartbeat.objects.get()
    client.post(f"/admin/observability/heartbeat/{beat.pk}/change/", {"role": "worker", "name": "forged"})
    assert Heartbeat.objects.get().name == "web-1:4242"
