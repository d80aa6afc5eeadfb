"""Times as members read them: the ``when`` filter, the member's zone per request, and the zone settings pages."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.middleware import TimeZoneMiddleware
from accounts.models import AccountState, InstagramAccount, Role, User
from accounts.templatetags.when import when_html, when_text
from accounts.zones import zone_names, zone_valid
from actions.models import Action, ActionState
from messaging.services import reply_window
from publishing.models import PostState, ScheduledPost
from tests.factories import ActionFactory, ConversationFactory

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# Monday 7 December 2026, 21:00 UTC = 22:00 in Paris, 16:00 in New York.
NOW = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


# --- the filter ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        (utc(2026, 12, 7, 13, 5), PARIS, "14:05 CET"),  # today: the time and the zone only
        (utc(2026, 12, 7, 23, 30), PARIS, "tomorrow 00:30 CET"),  # still the 7th in UTC, the 8th in Paris
        (utc(2026, 12, 7, 23, 30), NEW_YORK, "18:30 EST"),  # ... and today in New York
        (utc(2026, 12, 6, 22, 0), PARIS, "yesterday 23:00 CET"),
        (utc(2026, 12, 1, 8, 30), PARIS, "Tue 1 Dec 09:30 CET"),  # this year: weekday, day, month
        (utc(2025, 12, 1, 8, 30), PARIS, "1 Dec 2025 09:30 CET"),  # another year: the year instead
        (utc(2026, 7, 1, 8, 30), PARIS, "Wed 1 Jul 10:30 CEST"),  # summer time: its own abbreviation
        (
            utc(2026, 12, 7, 13, 5),
            ZoneInfo("America/Sao_Paulo"),
            "10:05 Sao Paulo",
        ),  # no abbreviation ("-03"): the city
        (utc(2026, 12, 7, 13, 5), ZoneInfo("UTC"), "13:05 UTC"),
    ],
)
def test_the_words_follow_the_rule(value: dt.datetime, zone: ZoneInfo, expected: str) -> None:
    assert when_text(value, zone=zone, now=NOW) == expected


def test_dst_changes_the_hour_and_the_name_across_the_spring_change() -> None:
    before = when_text(utc(2026, 3, 29, 0, 30), zone=PARIS, now=NOW)  # 01:30 CET, then clocks jump to 03:00
    after = when_text(utc(2026, 3, 29, 1, 30), zone=PARIS, now=NOW)
    assert (before, after) == ("Sun 29 Mar 01:30 CET", "Sun 29 Mar 03:30 CEST")


def test_a_naive_value_is_taken_as_utc_and_a_date_has_no_time_or_zone() -> None:
    assert when_text(dt.datetime(2026, 12, 7, 13, 5), zone=PARIS, now=NOW) == "14:05 CET"
    assert when_text(dt.date(2026, 12, 7), zone=PARIS, now=NOW) == "today"
    assert when_text(dt.date(2026, 12, 8), zone=PARIS, now=NOW) == "tomorrow"
    assert when_text(dt.date(2025, 3, 1), zone=PARIS, now=NOW) == "1 Mar 2025"


def test_the_element_carries_the_moment_the_full_date_and_utc() -> None:
    html = when_html(utc(2026, 12, 8, 11, 0), "Europe/Paris", now=NOW)
    assert html == (
        '<time datetime="2026-12-08T11:00:00Z" title="Tuesday 8 December 2026, 12:00:00 Europe/Paris '
        '(11:00:00 UTC)">tomorrow 12:00 CET</time>'
    )


def test_an_accounts_zone_is_named_by_its_city(make_account, workspace) -> None:
    account = make_account(workspace, time_zone="Europe/Paris")
    html = str(when_html(utc(2026, 12, 8, 11, 0), account, now=NOW))
    assert ">tomorrow 12:00 Paris</time>" in html


def test_an_unknown_zone_name_shows_utc_instead_of_failing(make_account, workspace) -> None:
    account = make_account(workspace, time_zone="Mars/Olympus")  # never saved by the forms; an old row could be
    assert ">13:05 UTC</time>" in str(when_html(utc(2026, 12, 7, 13, 5), account, now=NOW))
    assert ">13:05 UTC</time>" in str(when_html(utc(2026, 12, 7, 13, 5), "../../etc/passwd", now=NOW))


def test_the_filter_in_a_template_uses_the_active_zone_and_leaves_none_to_default() -> None:
    template = Template(
        '{% load when %}{{ at|when }}|{{ missing|when|default:"never" }}|{{ at|when_text:"Asia/Tokyo" }}'
    )
    moment = timezone.now()
    with timezone.override(NEW_YORK):
        rendered = template.render(Context({"at": moment, "missing": None}))
    shown, missing, tokyo = rendered.split("|")
    assert shown.endswith(f"{moment.astimezone(NEW_YORK):%H:%M} {moment.astimezone(NEW_YORK).tzname()}</time>")
    assert missing == "never"
    assert tokyo == f"{moment.astimezone(ZoneInfo('Asia/Tokyo')):%H:%M} JST"


def test_the_list_of_zones_is_iana_names_only() -> None:
    names = zone_names()
    assert "Europe/Paris" in names and "UTC" in names
    assert not any(name.startswith(("Etc/", "US/")) or name == "localtime" for name in names)
    assert not zone_valid("localtime") and not zone_valid("") and not zone_valid("europe/paris")


# --- the member's zone, per request -------------------------------------------------------------------------


@pytest.fixture
def member(client: Client, make_user, make_workspace) -> dict[str, Any]:
    user = make_user("owner@bakery.example")
    workspace = make_workspace("Bakery", owner=user)
    client.force_login(user)
    return {"user": user, "workspace": workspace}


def test_the_middleware_activates_the_members_zone_for_the_request_only(rf, member: dict[str, Any]) -> None:
    user: User = member["user"]
    user.time_zone = "America/New_York"
    seen: list[str] = []

    def view(request: Any) -> Any:
        seen.append(str(timezone.get_current_timezone()))
        return "response"

    request = rf.get("/")
    request.user = user
    assert TimeZoneMiddleware(view)(request) == "response"
    user.time_zone = ""
    TimeZoneMiddleware(view)(request)
    user.time_zone = "Not/AZone"
    TimeZoneMiddleware(view)(request)
    assert seen == ["America/New_York", "UTC", "UTC"]
    assert str(timezone.get_current_timezone()) == "UTC"  # nothing leaks to the next request


def test_pages_show_times_in_the_members_zone(client: Client, member: dict[str, Any], make_account) -> None:
    account = make_account(member["workspace"], time_zone="Europe/Paris")
    account.connected_at = timezone.now()
    account.save(update_fields=["connected_at"])
    user: User = member["user"]
    user.time_zone = "Asia/Tokyo"
    user.save(update_fields=["time_zone"])
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    expected = account.connected_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"{expected:%H:%M} JST</time>" in page


# --- the member's own zone: /me/ ----------------------------------------------------------------------------


def test_a_member_sets_and_clears_their_zone(client: Client, member: dict[str, Any]) -> None:
    page = client.get(reverse("me"))
    assert page.status_code == 200
    assert '<datalist id="time-zone-names">' in page.content.decode()
    response = client.post(reverse("me"), {"time_zone": " Europe/Paris "})
    assert response.status_code == 302
    member["user"].refresh_from_db()
    assert member["user"].time_zone == "Europe/Paris"
    assert "in Europe/Paris" in client.get(reverse("me")).content.decode()
    client.post(reverse("me"), {"time_zone": ""})
    member["user"].refresh_from_db()
    assert member["user"].time_zone == ""


@pytest.mark.parametrize(
    "hostile",
    [
        "Mars/Olympus",
        "../../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "localtime",
        "Europe/Paris<script>alert(1)</script>",
        "Europe/Paris\u202e",
        "x" * 500,
        "europe/paris",
    ],
)
def test_the_members_zone_refuses_what_is_not_an_iana_name(
    client: Client, member: dict[str, Any], hostile: str
) -> None:
    response = client.post(reverse("me"), {"time_zone": hostile})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)" not in body
    assert 'class="errorlist' in body
    member["user"].refresh_from_db()
    assert member["user"].time_zone == ""


def test_the_preferences_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("me"))
    assert response.status_code == 302 and "login" in response["Location"]


# --- an account's zone ---------------------------------------------------------------------------------------


def test_an_owner_changes_the_accounts_zone_and_held_back_actions_are_decided_again(
    client: Client, member: dict[str, Any], make_account
) -> None:
    account: InstagramAccount = make_account(member["workspace"], state=AccountState.WARMUP_DAY_2)
    later = timezone.now() + dt.timedelta(hours=10)
    warmup_held = ActionFactory.create(account=account, due_at=later, last_reason="warm-up day 2 (x): y")
    hours_held = ActionFactory.create(account=account, due_at=later, last_reason="active hours: proactive …")
    limit_held = ActionFactory.create(account=account, due_at=later, last_reason="comment replies per hour: 10")
    response = client.post(reverse("account_time_zone", args=[account.pk]), {"time_zone": "Europe/Paris"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.time_zone == "Europe/Paris"
    due = {action.pk: action.due_at for action in Action.all_workspaces.filter(account=account)}
    assert due[warmup_held.pk] < later and due[hours_held.pk] < later
    assert due[limit_held.pk] == later  # a rolling limit does not depend on the zone
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert "now uses Europe/Paris" in page
    assert 'data-testid="account-time-zone">Europe/Paris<' in page


def test_a_member_without_the_role_cannot_change_the_accounts_zone(
    client: Client, make_user, make_workspace, make_account
) -> None:
    user = make_user("member@bakery.example")
    workspace = make_workspace("Bakery", owner=user, role=Role.MEMBER)
    client.force_login(user)
    account = make_account(workspace)
    page = client.get(reverse("account_detail", args=[account.pk])).content.decode()
    assert 'data-testid="account-time-zone-form"' not in page
    response = client.post(reverse("account_time_zone", args=[account.pk]), {"time_zone": "Europe/Paris"})
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.time_zone == "UTC"


def test_another_workspaces_account_is_not_found(
    client: Client, member: dict[str, Any], make_workspace, make_account
) -> None:
    other = make_account(make_workspace("Other"))
    response = client.post(reverse("account_time_zone", args=[other.pk]), {"time_zone": "Europe/Paris"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.time_zone == "UTC"


@pytest.mark.parametrize("hostile", ["Mars/Olympus", "../../etc/passwd", "", "UTC\x00", "Asia/Tokyo' OR 1=1 --"])
def test_an_accounts_zone_refuses_what_is_not_an_iana_name(
    client: Client, member: dict[str, Any], make_account, hostile: str
) -> None:
    account = make_account(member["workspace"])
    response = client.post(reverse("account_time_zone", args=[account.pk]), {"time_zone": hostile}, follow=True)
    assert response.status_code in {200, 400}
    account.refresh_from_db()
    assert account.time_zone == "UTC"


def test_planned_work_of_other_accounts_is_untouched(client: Client, member: dict[str, Any], make_account) -> None:
    account = make_account(member["workspace"])
    neighbour = make_account(member["workspace"])
    later = timezone.now() + dt.timedelta(hours=3)
    held = ActionFactory.create(account=neighbour, due_at=later, last_reason="warm-up day 1 (x): y")
    client.post(reverse("account_time_zone", args=[account.pk]), {"time_zone": "Asia/Tokyo"})
    held.refresh_from_db()
    assert (held.due_at, held.state) == (later, ActionState.PLANNED)


def test_a_posts_local_time_stays_in_the_accounts_zone_whatever_the_members_zone(
    client: Client, member: dict[str, Any], make_account
) -> None:
    """The schedule's inputs are read in the account's zone, so they are prefilled in it (not the viewer's)."""
    account = make_account(member["workspace"], time_zone="Europe/Paris")
    post = ScheduledPost.all_workspaces.create(
        workspace=member["workspace"],
        account=account,
        state=PostState.SCHEDULED,
        scheduled_at=dt.datetime(2030, 5, 4, 9, 30, tzinfo=PARIS),
    )
    user: User = member["user"]
    user.time_zone = "Asia/Tokyo"
    user.save(update_fields=["time_zone"])
    detail = client.get(reverse("post_detail", args=[post.pk])).content.decode()
    assert 'value="2030-05-04T09:30"' in detail
    assert ">4 May 2030 09:30 Paris</time>" in detail
    calendar = client.get(reverse("post_calendar"), {"view": "week", "date": "2030-05-04"}).content.decode()
    assert ">09:30 Paris</time>" in calendar
    assert 'value="09:30" required' in calendar


def test_the_reply_windows_sentence_names_the_time_in_the_members_zone(make_account, workspace) -> None:
    account = make_account(workspace)
    conversation = ConversationFactory.create(account=account, last_inbound_at=NOW - dt.timedelta(hours=1))
    with timezone.override(NEW_YORK):
        window = reply_window(conversation=conversation, now=NOW)  # 16:00 in New York
    assert "(until tomorrow 15:00 EST): a normal message." in window.explanation
    with timezone.override(PARIS):
        later = reply_window(conversation=conversation, now=NOW + dt.timedelta(days=2))
    assert "may use until Mon 14 Dec 21:00 CET (7 days after their last message)" in later.explanation
