"""The team: removing members, leaving, changing roles, revoking and resending invitations, and their rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import SESSION_KEY
from accounts.models import Invitation, Membership, Role, User, Workspace
from accounts.services import (
    InvitationError,
    MembershipError,
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
    membership_remove,
    membership_role_change,
)
from messaging.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user, make_workspace) -> dict[str, Any]:
    """Acme: an owner, an admin, two members."""
    owner = make_user("owner@acme.example")
    workspace = make_workspace("Acme", owner=owner)
    people: dict[str, Any] = {"workspace": workspace, "owner": owner}
    for name, role in (("admin", Role.ADMIN), ("member", Role.MEMBER), ("member2", Role.MEMBER)):
        user = make_user(f"{name}@acme.example")
        Membership.all_workspaces.create(workspace=workspace, user=user, role=role)
        people[name] = user
    return people


def membership_of(user: Any, workspace: Any) -> Membership:
    return Membership.all_workspaces.get(user=user, workspace=workspace)


def role_of(user: Any, workspace: Any) -> str | None:
    membership = Membership.all_workspaces.filter(user=user, workspace=workspace).first()
    return membership.role if membership else None


# --- removing -----------------------------------------------------------------------------------------------


def test_an_owner_removes_an_admin_and_a_member(team) -> None:
    workspace, owner = team["workspace"], team["owner"]
    for name in ("admin", "member"):
        membership_remove(workspace=workspace, membership_id=membership_of(team[name], workspace).pk, actor=owner)
        assert role_of(team[name], workspace) is None
    assert User.objects.filter(email="admin@acme.example").exists()  # the login stays


def test_an_admin_removes_a_member_but_never_an_owner(team) -> None:
    workspace, admin = team["workspace"], team["admin"]
    membership_remove(workspace=workspace, membership_id=membership_of(team["member"], workspace).pk, actor=admin)
    assert role_of(team["member"], workspace) is None
    with pytest.raises(MembershipError, match="Only an owner can remove an owner"):
        membership_remove(workspace=workspace, membership_id=membership_of(team["owner"], workspace).pk, actor=admin)
    assert role_of(team["owner"], workspace) == Role.OWNER


def test_a_member_removes_nobody_else(team) -> None:
    workspace, member = team["workspace"], team["member"]
    for name in ("member2", "admin", "owner"):
        with pytest.raises(MembershipError, match="Only owners and admins"):
            membership_remove(workspace=workspace, membership_id=membership_of(team[name], workspace).pk, actor=member)
    assert Membership.all_workspaces.filter(workspace=workspace).count() == 4


def test_anyone_leaves_but_the_last_owner(team) -> None:
    workspace = team["workspace"]
    membership_remove(
        workspace=workspace, membership_id=membership_of(team["member"], workspace).pk, actor=team["member"]
    )
    assert role_of(team["member"], workspace) is None
    with pytest.raises(MembershipError, match="last owner"):
        membership_remove(
            workspace=workspace, membership_id=membership_of(team["owner"], workspace).pk, actor=team["owner"]
        )
    # With a second owner, the first may leave.
    membership_role_change(
        workspace=workspace,
        membership_id=membership_of(team["admin"], workspace).pk,
        role=Role.OWNER,
        actor=team["owner"],
    )
    membership_remove(
        workspace=workspace, membership_id=membership_of(team["owner"], workspace).pk, actor=team["owner"]
    )
    assert role_of(team["owner"], workspace) is None


def test_another_workspace_membership_reads_as_missing(team, make_workspace, make_user) -> None:
    other = make_workspace("Other", owner=make_user("boss@other.example"))
    stranger = Membership.all_workspaces.get(workspace=other)
    with pytest.raises(Membership.DoesNotExist):
        membership_remove(workspace=team["workspace"], membership_id=stranger.pk, actor=team["owner"])
    with pytest.raises(Membership.DoesNotExist):
        membership_role_change(
            workspace=team["workspace"], membership_id=stranger.pk, role=Role.MEMBER, actor=team["owner"]
        )
    assert Membership.all_workspaces.get(pk=stranger.pk).role == Role.OWNER


def test_someone_not_in_the_workspace_changes_nothing(team, make_user) -> None:
    outsider = make_user("out@example.com")
    target = membership_of(team["member"], team["workspace"])
    with pytest.raises(MembershipError, match="not a member"):
        membership_remove(workspace=team["workspace"], membership_id=target.pk, actor=outsider)


def test_removing_a_member_unassigns_their_conversations(team, make_account) -> None:
    workspace = team["workspace"]
    account = make_account(workspace)
    target = membership_of(team["member"], workspace)
    conversation = Conversation.all_workspaces.create(
        workspace=workspace, account=account, participant_igsid="1234567890", assigned_to=target
    )
    membership_remove(workspace=workspace, membership_id=target.pk, actor=team["owner"])
    conversation.refresh_from_db()
    assert conversation.assigned_to is None


# --- roles --------------------------------------------------------------------------------------------------


def test_an_owner_changes_any_role_and_makes_owners(team) -> None:
    workspace, owner = team["workspace"], team["owner"]
    member = membership_of(team["member"], workspace)
    assert (
        membership_role_change(workspace=workspace, membership_id=member.pk, role=Role.ADMIN, actor=owner).role
        == "admin"
    )
    membership_role_change(workspace=workspace, membership_id=member.pk, role=Role.OWNER, actor=owner)
    assert role_of(team["member"], workspace) == Role.OWNER
    # Two owners now: the first may step down to admin.
    membership_role_change(
        workspace=workspace, membership_id=membership_of(owner, workspace).pk, role=Role.ADMIN, actor=owner
    )
    assert role_of(owner, workspace) == Role.ADMIN


def test_the_last_owner_cannot_be_demoted(team) -> None:
    workspace, owner = team["workspace"], team["owner"]
    with pytest.raises(MembershipError, match="last owner"):
        membership_role_change(
            workspace=workspace, membership_id=membership_of(owner, workspace).pk, role=Role.MEMBER, actor=owner
        )
    assert role_of(owner, workspace) == Role.OWNER


def test_an_admin_neither_promotes_to_owner_nor_changes_an_owner(team) -> None:
    workspace, admin = team["workspace"], team["admin"]
    member = membership_of(team["member"], workspace)
    with pytest.raises(MembershipError, match="Only an owner"):
        membership_role_change(workspace=workspace, membership_id=member.pk, role=Role.OWNER, actor=admin)
    with pytest.raises(MembershipError, match="Only an owner"):
        membership_role_change(
            workspace=workspace, membership_id=membership_of(team["owner"], workspace).pk, role=Role.MEMBER, actor=admin
        )
    with pytest.raises(MembershipError, match="Only an owner"):  # not even themselves
        membership_role_change(
            workspace=workspace, membership_id=membership_of(admin, workspace).pk, role=Role.OWNER, actor=admin
        )
    # Between admin and member, an admin decides.
    membership_role_change(workspace=workspace, membership_id=member.pk, role=Role.ADMIN, actor=admin)
    assert role_of(team["member"], workspace) == Role.ADMIN
    assert role_of(team["owner"], workspace) == Role.OWNER


def test_a_member_changes_no_role_and_an_unknown_role_is_refused(team) -> None:
    workspace = team["workspace"]
    target = membership_of(team["member2"], workspace)
    with pytest.raises(MembershipError, match="Only owners and admins"):
        membership_role_change(workspace=workspace, membership_id=target.pk, role=Role.ADMIN, actor=team["member"])
    with pytest.raises(MembershipError, match="not a role"):
        membership_role_change(workspace=workspace, membership_id=target.pk, role="superuser", actor=team["owner"])
    assert role_of(team["member2"], workspace) == Role.MEMBER


# --- invitations --------------------------------------------------------------------------------------------


def test_revoking_an_invitation_stops_its_link_at_once(team, client: Client, make_user) -> None:
    workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    invitation_revoke(workspace=workspace, invitation_id=invitation.pk, actor=team["admin"])
    assert not Invitation.all_workspaces.filter(pk=invitation.pk).exists()
    invitee = make_user("new@acme.example")
    with pytest.raises(InvitationError, match="not valid"):
        invitation_accept(token=invitation.token, user=invitee)
    client.force_login(invitee)
    response = client.get(reverse("invitation_accept", args=[invitation.token]))
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert "invitation-accept" not in response.content.decode()


def test_resending_mails_a_fresh_link_and_the_old_one_stops_working(team, make_user) -> None:
    workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.ADMIN, invited_by=team["owner"]
    )
    old_token = invitation.token
    Invitation.all_workspaces.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
    mail.outbox.clear()
    resent = invitation_resend(workspace=workspace, invitation_id=invitation.pk, actor=team["admin"])
    assert resent.token != old_token
    assert resent.expires_at > timezone.now() + timedelta(days=6, hours=23)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@acme.example"]
    assert resent.token in mail.outbox[0].body and old_token not in mail.outbox[0].body
    invitee = make_user("new@acme.example")
    with pytest.raises(InvitationError, match="not valid"):
        invitation_accept(token=old_token, user=invitee)
    assert invitation_accept(token=resent.token, user=invitee).role == Role.ADMIN


def test_members_and_admins_cannot_manage_what_is_not_theirs(team, make_workspace, make_user) -> None:
    workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    for service in (invitation_revoke, invitation_resend):
        with pytest.raises(MembershipError, match="Only owners and admins"):
            service(workspace=workspace, invitation_id=invitation.pk, actor=team["member"])
    owner_invite = invitation_create(
        workspace=workspace, email="boss2@acme.example", role=Role.OWNER, invited_by=team["owner"]
    )
    for service in (invitation_revoke, invitation_resend):
        with pytest.raises(MembershipError, match="Only an owner"):
            service(workspace=workspace, invitation_id=owner_invite.pk, actor=team["admin"])
    # Another workspace's invitation reads as missing, even for its own owner acting from here.
    other = make_workspace("Other", owner=make_user("boss@other.example"))
    foreign = invitation_create(
        workspace=other,
        email="x@other.example",
        role=Role.MEMBER,
        invited_by=User.objects.get(email="boss@other.example"),
    )
    with pytest.raises(Invitation.DoesNotExist):
        invitation_revoke(workspace=workspace, invitation_id=foreign.pk, actor=team["owner"])
    assert Invitation.all_workspaces.filter(pk__in=[invitation.pk, owner_invite.pk, foreign.pk]).count() == 3


def test_only_an_owner_invites_an_owner(team) -> None:
    with pytest.raises(InvitationError, match="Only an owner"):
        invitation_create(
            workspace=team["workspace"], email="boss2@acme.example", role=Role.OWNER, invited_by=team["admin"]
        )
    assert not Invitation.all_workspaces.filter(email="boss2@acme.example").exists()


def test_an_accepted_invitation_is_neither_revoked_nor_resent(team, make_user) -> None:
    workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    invitation_accept(token=invitation.token, user=make_user("new@acme.example"))
    for service in (invitation_revoke, invitation_resend):
        with pytest.raises(MembershipError, match="already accepted"):
            service(workspace=workspace, invitation_id=invitation.pk, actor=team["owner"])


def test_the_invitation_page_says_which_workspace_who_invited_and_the_role(team, client: Client, make_user) -> None:
    invitation = invitation_create(
        workspace=team["workspace"], email="new@acme.example", role=Role.ADMIN, invited_by=team["owner"]
    )
    client.force_login(make_user("new@acme.example"))
    page = client.get(reverse("invitation_accept", args=[invitation.token])).content.decode()
    assert "Acme" in page and "owner@acme.example" in page and "admin</strong>" in page
    assert 'data-testid="invitation-accept"' in page


def test_the_invitation_page_for_another_address_says_so_before_accepting(team, client: Client, make_user) -> None:
    invitation = invitation_create(
        workspace=team["workspace"], email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    client.force_login(make_user("someone@else.example"))
    response = client.get(reverse("invitation_accept", args=[invitation.token]))
    assert response.status_code == 400
    assert "Log in with that address" in response.content.decode()


# --- pages --------------------------------------------------------------------------------------------------


def _log_in(client: Client, user: object, workspace: object) -> None:
    client.force_login(user)  # type: ignore[arg-type]
    session = client.session
    session[SESSION_KEY] = workspace.pk  # type: ignore[attr-defined]
    session.save()


def test_a_removed_member_loses_access_on_their_next_request(team, client: Client, make_account) -> None:
    workspace = team["workspace"]
    account = make_account(workspace)
    _log_in(client, team["member"], workspace)
    assert client.get(reverse("account_detail", args=[account.pk])).status_code == 200
    owner = Client()
    _log_in(owner, team["owner"], workspace)
    target = membership_of(team["member"], workspace)
    assert owner.get(reverse("member_remove", args=[target.pk])).status_code == 200
    assert owner.post(reverse("member_remove", args=[target.pk]))["Location"] == reverse("members")
    # The member's open session: the account is another workspace's now (404); the dashboard sends them away.
    assert client.get(reverse("account_detail", args=[account.pk])).status_code in (302, 404)
    response = client.get(reverse("dashboard"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("workspace_create")
    assert "no longer a member" in response.content.decode()


def test_a_removed_member_with_another_workspace_is_moved_there(team, client: Client, make_workspace) -> None:
    workspace = team["workspace"]
    own = make_workspace("Member's own", owner=team["member"])
    _log_in(client, team["member"], workspace)
    membership_remove(
        workspace=workspace, membership_id=membership_of(team["member"], workspace).pk, actor=team["owner"]
    )
    response = client.get(reverse("members"))
    assert response.status_code == 200
    assert response.context["current_workspace"] == own
    assert "owner@acme.example" not in response.content.decode()
    assert client.session[SESSION_KEY] == own.pk


def test_the_members_page_offers_only_what_the_viewer_may_do(team, client: Client) -> None:
    workspace = team["workspace"]
    _log_in(client, team["admin"], workspace)
    page = client.get(reverse("members")).content.decode()
    owner_row = page.split('data-email="owner@acme.example"', 1)[1].split("</tr>", 1)[0]
    assert "member-role" not in owner_row and "member-remove" not in owner_row
    member_row = page.split('data-email="member@acme.example"', 1)[1].split("</tr>", 1)[0]
    assert 'data-testid="member-role"' in member_row and 'value="owner"' not in member_row
    assert 'data-testid="member-remove"' in member_row
    _log_in(client, team["member"], workspace)
    page = client.get(reverse("members")).content.decode()
    assert 'data-testid="member-role"' not in page and 'data-testid="member-remove"' not in page
    assert 'data-testid="member-leave"' in page
    assert 'data-testid="activity-link"' not in page


def test_a_member_posting_to_the_team_urls_changes_nothing(team, client: Client) -> None:
    workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    target = membership_of(team["member2"], workspace)
    _log_in(client, team["member"], workspace)
    client.post(reverse("member_role_change", args=[target.pk]), {"role": Role.OWNER})
    client.post(reverse("member_remove", args=[target.pk]))
    client.post(reverse("invitation_revoke", args=[invitation.pk]))
    client.post(reverse("invitation_resend", args=[invitation.pk]))
    assert role_of(team["member2"], workspace) == Role.MEMBER
    assert Invitation.all_workspaces.get(pk=invitation.pk).token == invitation.token


def test_the_pages_change_roles_revoke_and_resend(team, client: Client) -> None:
    workspace: Workspace = team["workspace"]
    invitation = invitation_create(
        workspace=workspace, email="new@acme.example", role=Role.MEMBER, invited_by=team["owner"]
    )
    _log_in(client, team["owner"], workspace)
    target = membership_of(team["member"], workspace)
    client.post(reverse("member_role_change", args=[target.pk]), {"role": Role.ADMIN})
    assert role_of(team["member"], workspace) == Role.ADMIN
    client.post(reverse("invitation_resend", args=[invitation.pk]))
    assert Invitation.all_workspaces.get(pk=invitation.pk).token != invitation.token
    response = client.post(reverse("invitation_revoke", args=[invitation.pk]), follow=True)
    assert "is revoked" in response.content.decode()
    assert not Invitation.all_workspaces.filter(pk=invitation.pk).exists()
    # The last owner's own row offers neither a role nor "Leave".
    page = client.get(reverse("members")).content.decode()
    own_row = page.split('data-email="owner@acme.example"', 1)[1].split("</tr>", 1)[0]
    assert "member-role" not in own_row and "member-leave" not in own_row


def test_hostile_ids_are_404(team, client: Client) -> None:
    _log_in(client, team["owner"], team["workspace"])
    for name in ("member_role_change", "member_remove", "invitation_revoke", "invitation_resend"):
        for bad in (0, 999999, 2**63, 10**30):
            response = client.post(reverse(name, args=[bad]), {"role": "admin"})
            assert response.status_code == 404, (name, bad)
