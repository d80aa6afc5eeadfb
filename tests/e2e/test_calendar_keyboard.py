"""The publishing calendar without a mouse: Tab to a post's "Move", choose another day and time with the keys, send
it, and the post is moved on the calendar and in the database, the focus back on it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import Membership, Workspace
from publishing.models import PostState
from publishing.samples import sample_jpeg
from publishing.services import post_create
from publishing.tests.conftest import connect, policy_relax
from sandbox.testing import SandboxServer
from tests.e2e.conftest import wait_for, wait_for_text
from tests.e2e.demo_pages import browser_login

ACTIVE_TESTID = "return document.activeElement && document.activeElement.getAttribute('data-testid');"
ACTIVE_NAME = "return document.activeElement && document.activeElement.name;"
# The order of a date input's fields (month, day, year in the US) and whether its time input has AM/PM follow the
# browser's language: typed in that order, as a person would.
DATE_ORDER = """return new Intl.DateTimeFormat(navigator.language).formatToParts(new Date(2026, 11, 10))
  .filter(part => part.type !== 'literal').map(part => part.type);"""
TWELVE_HOURS = "return new Intl.DateTimeFormat(navigator.language, {hour: 'numeric'}).resolvedOptions().hour12 == true;"


def press(browser: WebDriver, *keys: str) -> None:
    actions = ActionChains(browser)
    for key in keys:
        actions.send_keys(key)
    actions.perform()


def tab_to(browser: WebDriver, testid: str, *, limit: int = 80, script: str = ACTIVE_TESTID) -> None:
    """Press Tab until the element with `testid` (or the field named so) has the focus, as a keyboard user would:
    Tab also steps through a date input's own fields (day, month, year) before leaving it."""
    for presses in range(limit + 1):
        if browser.execute_script(script) == testid:
            return
        if presses < limit:
            press(browser, Keys.TAB)
    raise AssertionError(f"Tab never reached {testid}")


def test_move_a_post_with_the_keyboard_only(
    browser: WebDriver,
    live_server: Any,
    sandbox_live_server: SandboxServer,
    workspace: Workspace,
    make_account: Any,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    policy_relax(workspace)
    account = connect(workspace, make_account, "keyboard_bakery")
    later = timezone.localtime(timezone.now() + timedelta(days=7), timezone.get_fixed_timezone(0))
    later = later.replace(hour=9, minute=15, second=0, microsecond=0)
    post = post_create(account=account, kind="image", caption="Keys only", uploads=[sample_jpeg()], scheduled_at=later)
    target = (later + timedelta(days=1)).date() if later.weekday() < 6 else (later - timedelta(days=1)).date()
    owner = Membership.all_workspaces.get(workspace=workspace).user
    browser_login(browser, live_server.url, owner)
    browser.get(f"{live_server.url}{reverse('post_calendar')}?view=week&date={later.date().isoformat()}")
    wait_for(browser, f"cal-post-{post.pk}")

    # Tab to the post's Move button and open it with Enter: the day and time fields follow.
    browser.find_element(By.TAG_NAME, "body").click()  # the page has the focus, nothing in it yet
    tab_to(browser, f"cal-move-{post.pk}")
    press(browser, Keys.ENTER)
    tab_to(browser, "date", limit=1, script=ACTIVE_NAME)
    values = {"month": f"{target.month:02d}", "day": f"{target.day:02d}", "year": str(target.year)}
    press(browser, *[values[part] for part in browser.execute_script(DATE_ORDER)])
    assert browser.execute_script("return document.activeElement.value;") == target.isoformat()
    tab_to(browser, "time", limit=4, script=ACTIVE_NAME)
    press(browser, *(["10", "45", "AM"] if browser.execute_script(TWELVE_HOURS) else ["10", "45"]))
    tab_to(browser, f"cal-move-submit-{post.pk}", limit=4)
    press(browser, Keys.ENTER)

    wait_for_text(browser, "cal-status", f"Moved to {target.isoformat()} 10:45")
    post.refresh_from_db()
    assert post.state == PostState.SCHEDULED
    assert post.scheduled_at is not None
    moved = timezone.localtime(post.scheduled_at, timezone.get_fixed_timezone(0))  # the account's zone: UTC
    assert (moved.date(), moved.hour, moved.minute) == (target, 10, 45)
    # On the calendar: in the new day's cell, its label at the new time, and the focus back on it.
    cell = wait_for(browser, f"cal-day-{target.isoformat()}")
    assert cell.find_element(By.CSS_SELECTOR, f'[data-testid="cal-post-{post.pk}"]').text.startswith("10:45")
    assert browser.execute_script(ACTIVE_TESTID) == f"cal-post-{post.pk}"
