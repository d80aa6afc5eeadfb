"""The workspace switcher takes a workspace id from a form: anything else is a 404, never a 500 (issue 18)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Workspace


@pytest.mark.parametrize("value", ["²", "99999999999999999999", "9" * 5000, "-1", "abc", ""])
def test_switching_to_a_workspace_id_no_row_can_have_is_a_404(client: Client, workspace: Workspace, value: str) -> None:
    client.force_login(Membership.all_workspaces.get(workspace=workspace).user)
    assert client.post(reverse("workspace_switch"), {"workspace_id": value}).status_code == 404
