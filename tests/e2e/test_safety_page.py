"""The Safety page in a real browser: topics start collapsed, open with a click (no script needed), and an
override saved from an opened topic shows as the account's, in plain words."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import WebDriverWait

from safety.models import SafetyOverride
from tests.e2e.conftest import by_testid, wait_for
from tests.e2e.demo_pages import Demo
from tests.e2e.screenshots import screenshot


def test_a_member_opens_a_topic_and_sets_an_override(
    browser: WebDriver,
    live_server: Any,
    demo_signed_in: Demo,
) -> None:
    demo = demo_signed_in
    browser.get(live_server.url + reverse("account_safety", args=[demo.account.pk]))
    dms = wait_for(browser, "topic-dms")
    field = dms.find_element(By.NAME, "cooldowns.dm")
    assert not field.is_displayed()  # collapsed
    dms.find_element(By.TAG_NAME, "summary").click()
    assert field.is_displayed()
    label = dms.find_element(By.CSS_SELECTOR, "label[for='id_cooldowns.dm']").text
    assert label == "Pause between two direct messages"
    screenshot(browser, "safety-topic-open")
    field.clear()
    field.send_keys("90")
    browser.find_element(*by_testid("overrides-save")).click()
    WebDriverWait(browser, 15).until(staleness_of(dms))  # the saved page replaced this one
    dms = wait_for(browser, "topic-dms")
    assert SafetyOverride.all_workspaces.get(account=demo.account).values == {"cooldowns.dm": 90}
    dms.find_element(By.TAG_NAME, "summary").click()
    row = next(
        row
        for row in dms.find_elements(*by_testid("setting"))
        if row.find_element(*by_testid("setting-label")).text == "Pause between two direct messages"
    )
    assert row.find_element(*by_testid("setting-value")).text == "90 s"
    assert row.find_element(*by_testid("setting-source")).text == "Account override"
