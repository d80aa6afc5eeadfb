"""Scheduled publishing in a real browser: upload a carousel, schedule it, watch it publish in the
sandbox, then drag another post to another day on the calendar."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from accounts.models import Membership
from publishing.models import PostState, ScheduledPost
from publishing.samples import sample_jpeg
from publishing.services import post_create
from publishing.tests.conftest import connect, policy_relax
from sandbox.models import SandboxMedia
from sandbox.testing import SandboxServer
from tests.e2e.conftest import wait_for, wait_for_text

DRAG_AND_DROP = """
const [source, target] = arguments;
const data = new DataTransfer();
source.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
target.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));
target.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));
"""


def test_upload_a_carousel_watch_it_publish_and_drag_another_post(
    browser: WebDriver,
    live_server,
    sandbox_live_server: SandboxServer,
    dispatcher: None,
    workspace,
    make_account,
    settings,
    tmp_path: Path,
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = live_server.url
    policy_relax(workspace)
    account = connect(workspace, make_account, "corner_bakery")
    owner = Membership.all_workspaces.get(workspace=workspace).user
    client = Client()
    client.force_login(owner)
    browser.get(live_server.url + "/")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})

    # Compose a carousel of two photos, due now.
    files = []
    for index, size in enumerate([(1080, 1080), (1080, 1350)]):
        upload = sample_jpeg(*size, name=f"photo{index}.jpg")
        path = tmp_path / upload.name
        path.write_bytes(upload.stream.read())
        files.append(str(path))
    browser.get(live_server.url + reverse("post_compose"))
    form = wait_for(browser, "post-form")
    Select(form.find_element(By.NAME, "account")).select_by_visible_text(str(account))
    Select(form.find_element(By.NAME, "kind")).select_by_value("carousel")
    form.find_element(By.NAME, "media_files").send_keys("\n".join(files))
    form.find_element(By.NAME, "caption").send_keys("Two loaves #bakery")
    now_local = timezone.localtime(timezone.now(), timezone.get_fixed_timezone(0))
    browser.execute_script(
        "arguments[0].value = arguments[1];",
        form.find_element(By.NAME, "scheduled_at"),
        now_local.strftime("%Y-%m-%dT%H:%M"),
    )
    browser.find_element(By.CSS_SELECTOR, '[data-testid="post-submit"]').click()

    # The post page refreshes itself until the dispatcher has published it in the sandbox.
    wait_for_text(browser, "post-state", "Published", seconds=60)
    post = ScheduledPost.all_workspaces.get(caption="Two loaves #bakery")
    assert SandboxMedia.objects.get(media_id=post.media_id).media_type == "CAROUSEL_ALBUM"
    wait_for(browser, "post-permalink")

    # Another post, scheduled next week: drag it one day later on the week calendar.
    later = timezone.now() + timedelta(days=7)
    other = post_create(account=account, kind="image", caption="Next week", uploads=[sample_jpeg()], scheduled_at=later)
    browser.get(f"{live_server.url}{reverse('post_calendar')}?view=week&date={later.date().isoformat()}")
    source = wait_for(browser, f"cal-post-{other.pk}")
    target_day = (later + timedelta(days=1)).date() if later.weekday() < 6 else (later - timedelta(days=1)).date()
    target = wait_for(browser, f"cal-day-{target_day.isoformat()}")
    browser.execute_script(DRAG_AND_DROP, source, target)
    wait_for_text(browser, "cal-status", f"Moved to {target_day.isoformat()}")
    other.refresh_from_db()
    assert other.state == PostState.SCHEDULED
    assert other.scheduled_at is not None and other.scheduled_at.date() == target_day
    assert (other.scheduled_at.hour, other.scheduled_at.minute) == (later.hour, later.minute)  # the time of day kept
