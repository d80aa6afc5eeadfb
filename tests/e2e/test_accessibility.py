"""axe-core (tests/e2e/vendor/axe.min.js, never served) finds no serious or critical accessibility violation on
the main pages: names of buttons, links and fields, contrast, landmarks, at a desktop's and a phone's width."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.e2e.conftest import wait_for
from tests.e2e.demo_pages import Demo, main_pages

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(results => done(results.violations.map(violation => ({
  id: violation.id, impact: violation.impact, help: violation.help,
  nodes: violation.nodes.slice(0, 3).map(node => node.target.join(' ') + ' :: ' + node.failureSummary),
})))).catch(error => done([{id: 'axe-error', impact: 'critical', help: String(error), nodes: []}]));
"""
BLOCKING = {"serious", "critical"}


def violations(browser: WebDriver) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page in the browser, its folded parts (<details>) opened."""
    browser.execute_script("document.querySelectorAll('main details').forEach(details => { details.open = true; });")
    browser.execute_script(AXE)
    browser.set_script_timeout(30)
    found: list[dict[str, Any]] = browser.execute_async_script(RUN_AXE)
    return [violation for violation in found if violation["impact"] in BLOCKING]


@pytest.mark.slow  # every main page, one after the other (about 10-30 s)
def test_no_serious_or_critical_violation_on_the_main_pages(
    browser: WebDriver,
    live_server: Any,
    demo_signed_in: Demo,
) -> None:
    demo = demo_signed_in
    found = {}
    for width in (1400, 390):
        browser.set_window_size(width, 900)
        for name, path in main_pages(demo).items():
            browser.get(live_server.url + path)
            wait_for(browser, "nav-menu" if width < 900 else "current-workspace")
            if page_violations := violations(browser):
                found[f"{name} at {width} px"] = page_violations
    assert not found, "\n".join(
        f"{page}: {violation['impact']} {violation['id']} ({violation['help']}): {violation['nodes']}"
        for page, page_violations in found.items()
        for violation in page_violations
    )
