"""The ledger and the comment list in a real browser: search, a date range, "Older" and "Newer", and the
"Download CSV" link whose rows are the filtered list's."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import requests
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from actions.models import Action
from engagement.models import Comment
from tests.e2e.conftest import by_testid, wait_for
from tests.e2e.screenshots import screenshot


def test_a_member_searches_pages_and_exports_the_ledger(
    browser: WebDriver, live_server, transactional_db: None, make_user, make_workspace, make_account
) -> None:
    owner = make_user("owner@lists.example")
    workspace = make_workspace(owner=owner)
    account = make_account(workspace, username="lamp_shop")
    now = timezone.now()
    for number in range(70):
        denied = number % 2 == 0
        Action.all_workspaces.create(
            workspace=workspace,
            account=account,
            action_type="comment_reply",
            idempotency_key=f"e2e-{number}",
            payload={"message": f"Thanks #{number}"},
            state="denied" if denied else "succeeded",
            last_reason="warm-up day 1 allows no comment replies" if denied else "",
            created_at=now - timedelta(minutes=number),
        )
        Comment.all_workspaces.create(
            workspace=workspace,
            account=account,
            ig_comment_id=f"e2e-{number}",
            from_username=f"fan{number}",
            text="is the lamp in stock?" if number % 3 == 0 else "lovely",
            received_at=now - timedelta(minutes=number),
        )
    client = Client()
    client.force_login(owner)
    browser.get(live_server.url + "/")
    session = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": session})

    browser.get(live_server.url + reverse("action_list"))
    assert len(browser.find_elements(*by_testid("ledger-row"))) == 50
    search = wait_for(browser, "list-search")
    search.send_keys("warm-up", Keys.ENTER)
    wait_for(browser, "list-clear")
    rows = browser.find_elements(*by_testid("ledger-row"))
    assert len(rows) == 35 and all("warm-up" in row.text for row in rows)
    assert not browser.find_elements(*by_testid("pager"))
    screenshot(browser, "ledger-search")

    # The export carries the search: its rows are the 35 on the page.
    link = wait_for(browser, "list-csv").get_attribute("href")
    assert link and "q=warm-up" in link and "format=csv" in link
    cookie = browser.get_cookie(django_settings.SESSION_COOKIE_NAME)
    assert cookie is not None
    response = requests.get(link, cookies={django_settings.SESSION_COOKIE_NAME: cookie["value"]}, timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    exported = list(csv.DictReader(io.StringIO(response.content.decode("utf-8").lstrip("\ufeff"))))
    shown = {row.find_element(By.TAG_NAME, "a").text for row in rows}
    assert {row["id"] for row in exported} == shown and len(exported) == 35
    assert all(row["state"] == "denied" for row in exported)

    # Unfiltered, 70 rows: "Older" shows the 20 left, "Newer" comes back.
    wait_for(browser, "list-clear").click()
    wait_for(browser, "pager-older").click()
    wait_for(browser, "pager-newer")
    assert len(browser.find_elements(*by_testid("ledger-row"))) == 20
    wait_for(browser, "pager-newer").click()
    wait_for(browser, "pager-older")
    assert len(browser.find_elements(*by_testid("ledger-row"))) == 50

    # The comment list: the search and today's date range, from the form.
    browser.get(live_server.url + reverse("comment_list"))
    wait_for(browser, "list-search").send_keys("lamp")
    today = timezone.localdate().isoformat()
    for testid in ("list-from", "list-to"):
        browser.execute_script("arguments[0].value = arguments[1]", wait_for(browser, testid), today)
    wait_for(browser, "list-filter").click()
    wait_for(browser, "list-clear")
    texts = [element.text for element in browser.find_elements(*by_testid("comment-text"))]
    expected = Comment.all_workspaces.filter(
        workspace=workspace, text__contains="lamp", received_at__date=timezone.localdate()
    ).count()
    assert len(texts) == expected and set(texts) == {"is the lamp in stock?"}
    screenshot(browser, "comments-search")
