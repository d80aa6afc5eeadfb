"""Sign-up to first workspace, invitations, switching workspaces, pausing and resuming, connection errors."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.middleware import SESSION_KEY
from accounts.models import AccountState, InstagramAccount, Invitation, Membership, Role
from accounts.views import OAUTH_STATE_KEY

pytestmark = pytest.mark.django_db


def test_sign_up_then_create_the_first_workspace(client: Client) -> None:
    response = client.post(
        reverse("account_signup"),
        {"email": "new@shop.example", "password1": "Sunny-Shop-2026", "password2": "Sunny-Shop-2026"},
    )
    # The address is confirmed first (the same answer whether or not it has an account: no enumeration).
    assert response["Location"] == reverse("account_email_verification_sent")
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", str(mail.outbox[-1].body))
    assert link is not None
    response = client.post(link.group(0))
    assert response.status_code == 302
    assert client.get(reverse("dashboard"))["Location"] == reverse("workspace_create")
    response = client.post(reverse("workspace_create"), {"name": "Sunny Shop"})
    assert response.status_code == 302
    membership = Membership.all_workspaces.get(user__email="new@shop.example")
    assert (membership.workspace.name, membership.role) == ("Sunny Shop", Role.OWNER)
    assert "Sunny Shop" in client.get(reverse("dashboard")).content.decode()


def test_an_empty_workspace_name_is_refused(client: Client, make_user) -> None:
    client.force_login(make_user())
    response = client.post(reverse("workspace_create"), {"name": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()


def test_invitation_by_email_link(client: Client, make_user, make_workspace) -> None:
    owner = make_user("owner@agency.example")
    workspace = make_workspace("Agency", owner=owner)
    client.force_login(owner)
    response = client.post(reverse("members"), {"email": "Friend@Agency.example", "role": Role.MEMBER})
    assert response.status_code == 302
    invitation = Invitation.all_workspaces.get()
    assert invitation.email == "friend@agency.example"
    link = reverse("invitation_accept", args=[invitation.token])
    assert link in mail.outbox[0].body

    friend = make_user("friend@agency.example")
    client.force_login(friend)
    assert client.get(link).status_code == 200
    assert client.post(link).status_code == 302
    assert Membership.all_workspaces.filter(workspace=workspace, user=friend, role=Role.MEMBER).exists()
    assert client.post(link).status_code == 400  # used once


def test_an_invitation_only_works_for_its_address(client: Client, make_user, make_workspace) -> None:
    owner = make_user()
    workspace = make_workspace(owner=owner)
    client.force_login(owner)
    client.post(reverse("members"), {"email": "invited@example.com", "role": Role.MEMBER})
    invitation = Invitation.all_workspaces.get()
    stranger = make_user("stranger@example.com")
    client.force_login(stranger)
    response = client.post(reverse("invitation_accept", args=[invitation.token]))
    assert response.status_code == 400
    assert "invited@example.com" in response.content.decode()
    assert not Membership.all_workspaces.filter(workspace=workspace, user=stranger).exists()


def test_members_cannot_invite(client: Client, make_user, make_workspace) -> None:
    owner = make_user()
    workspace = make_workspace(owner=owner)
    member = make_user()
    Membership.all_workspaces.create(workspace=workspace, user=member, role=Role.MEMBER)
    client.force_login(member)
    client.cookies.clear()
    client.force_login(member)
    session = client.session
    session[SESSION_KEY] = workspace.pk
    session.save()
    client.post(reverse("members"), {"email": "x@example.com", "role": Role.OWNER})
    assert not Invitation.all_workspaces.exists()


def test_switching_between_own_workspaces(client: Client, make_user, make_workspace, make_account) -> None:
    user = make_user()
    first = make_workspace("First", owner=user)
    second = make_workspace("Second", owner=user)
    make_account(second, username="second_brand")
    client.force_login(user)
    assert "second_brand" not in client.get(reverse("dashboard")).content.decode()
    client.post(reverse("workspace_switch"), {"workspace_id": second.pk})
    assert "second_brand" in client.get(reverse("dashboard")).content.decode()
    assert client.session[SESSION_KEY] == second.pk
    assert first.pk != second.pk


def test_pause_and_resume_from_the_web_app(client: Client, make_user, make_workspace, make_account) -> None:
    user = make_user()
    workspace = make_workspace(owner=user)
    account = make_account(workspace, state=AccountState.WARMUP_DAY_2)
    client.force_login(user)
    client.post(reverse("account_pause", args=[account.pk]))
    assert InstagramAccount.all_workspaces.get(pk=account.pk).state == AccountState.PAUSED
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'data-testid="account-resume"' in page
    client.post(reverse("account_resume", args=[account.pk]))
    assert InstagramAccount.all_workspaces.get(pk=account.pk).state == AccountState.WARMUP_DAY_2


def test_pausing_twice_says_why_it_cannot(client: Client, make_user, make_workspace, make_account) -> None:
    user = make_user()
    account = make_account(make_workspace(owner=user), state=AccountState.PAUSED)
    client.force_login(user)
    response = client.post(reverse("account_pause", args=[account.pk]), follow=True)
    assert "cannot go from PAUSED to PAUSED" in response.content.decode()


def test_the_oauth_callback_checks_the_state(client: Client, make_user, make_workspace) -> None:
    user = make_user()
    make_workspace(owner=user)
    client.force_login(user)
    response = client.get(reverse("instagram_callback"), {"code": "abc", "state": "forged"}, follow=True)
    assert "could not be verified" in response.content.decode()
    assert not InstagramAccount.all_workspaces.exists()


def test_a_refused_consent_is_reported(client: Client, make_user, make_workspace) -> None:
    user = make_user()
    make_workspace(owner=user)
    client.force_login(user)
    client.get(reverse("instagram_connect"))
    state = client.session[OAUTH_STATE_KEY]["state"]
    response = client.get(
        reverse("instagram_callback"),
        {
            "error": "access_denied",
            "error_reason": "user_denied",
            "error_description": "The user denied your request",
            "state": state,
        },
        follow=True,
    )
    assert "The user denied your request" in response.content.decode()
    assert not InstagramAccount.all_workspaces.exists()


def test_two_factor_authentication_can_be_activated_with_totp(client: Client, make_user, make_workspace) -> None:
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    user = make_user("secure@example.com", password="Careful-Owner-2026")
    make_workspace(owner=user)
    client.post(reverse("account_login"), {"login": "secure@example.com", "password": "Careful-Owner-2026"})
    assert client.get(reverse("mfa_index")).status_code == 200
    # Changing security settings asks for the password again, as it should.
    assert client.get(reverse("mfa_activate_totp")).status_code == 302
    client.post(reverse("account_reauthenticate"), {"password": "Careful-Owner-2026"})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200
    secret = response.context["form"].secret
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    client.post(reverse("mfa_activate_totp"), {"code": code})
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
