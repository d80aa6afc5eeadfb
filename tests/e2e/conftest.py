"""Browser tests: headless Debian Chromium driven by Selenium, explicit waits on data-testid."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from accounts.models import InstagramAccount
from actions.dispatcher.loop import dispatcher_run
from safety.services import policy_override_set
from tests.e2e.demo_pages import Demo, browser_login, demo_seed
from warmup.services import warmup_skip

WAIT_SECONDS = 20


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@contextmanager
def chromium_driver(*, profile_prefix: str = "instaforge-chromium-") -> Iterator[WebDriver]:
    """A headless Debian Chromium with a profile (cookies, storage) of its own, removed afterwards."""
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("Browser tests need Debian's chromium and chromium-driver (make browser installs them).")
    profile = tempfile.mkdtemp(prefix=profile_prefix)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium_driver() as driver:
        yield driver


@pytest.fixture
def demo_signed_in(
    browser: WebDriver, live_server: Any, sandbox_live_server: Any, workspace: Any, settings: Any, tmp_path: Path
) -> Demo:
    """The demo-like workspace (tests/e2e/demo_pages.py) with its owner signed in in ``browser``."""
    settings.MEDIA_ROOT = tmp_path / "media"
    demo = demo_seed(workspace)
    browser_login(browser, live_server.url, demo.owner)
    return demo


@pytest.fixture
def dispatcher(transactional_db: None) -> Iterator[None]:
    """A dispatcher running beside the live server, as `make up` runs one."""
    stop = threading.Event()
    thread = threading.Thread(
        target=dispatcher_run, kwargs={"stop": stop, "worker_id": "e2e", "poll_seconds": 0.2}, daemon=True
    )
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


def sign_in_and_connect_for_dms(
    browser: WebDriver, base_url: str, *, email: str, password: str, username: str
) -> InstagramAccount:
    """Log in through the page, connect a new sandbox account, and ready it for a DM conversation.

    An operator skips the warm-up (DMs only 08:00–10:00 on day 1), as for an established account, and the
    account's DM cooldowns are set to 0: a browser test does not wait out two minutes between a flow's messages.
    """
    browser.get(base_url + reverse("account_login"))
    browser.find_element(By.NAME, "login").send_keys(email)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    wait_for(browser, "connect-instagram").click()
    wait_for(browser, "sandbox-consent-title")
    browser.find_element(*by_testid("sandbox-new-username")).send_keys(username)
    browser.find_element(*by_testid("sandbox-allow")).click()
    wait_for(browser, "account-state")
    account = InstagramAccount.all_workspaces.get(username=username)
    warmup_skip(account_id=account.pk, actor=None, reason="established account")
    policy_override_set(
        workspace_id=account.workspace_id,
        account_id=account.pk,
        values={"cooldowns.dm": 0, "counterpart_cooldowns.conversation": 0, "burst.per_account.window_seconds": 0},
        actor=None,
    )
    return account


def by_testid(testid: str) -> tuple[str, str]:
    return By.CSS_SELECTOR, f'[data-testid="{testid}"]'


def wait_for(driver: WebDriver, testid: str, *, seconds: float = WAIT_SECONDS) -> WebElement:
    # Looked for again while a page is being replaced (see wait_for_text), until the time is up.
    return WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.visibility_of_element_located(by_testid(testid))
    )


def wait_for_text(driver: WebDriver, testid: str, text: str, *, seconds: float = WAIT_SECONDS) -> None:
    # A page being replaced (a form just submitted) can answer a lookup with "node does not belong to the
    # document": that is the old page going, so look again, as for a stale element, until the time is up.
    WebDriverWait(driver, seconds, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.text_to_be_present_in_element(by_testid(testid), text)
    )
