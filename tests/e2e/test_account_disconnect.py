"""In a real browser: an owner disconnects an account and deletes its history, typing its username to confirm."""

from __future__ import annotations

from typing import cast

from auditlog.models import LogEntry
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from selenium.webdriver import Chrome
from selenium.webdriver.remote.webdriver import WebDriver

from accounts.models import AccountState, InstagramAccount
from engagement.models import Comment
from tests.e2e.conftest import by_testid, wait_for, wait_for_text
from tests.factories import CommentFactory


def test_owner_disconnects_an_account_and_deletes_its_history(
    browser: WebDriver, live_server, make_user, make_workspace, make_account
) -> None:
    owner = make_user("owner@bakery.example")
    workspace = make_workspace("Corner Bakery", owner=owner)
    account = make_account(workspace, username="corner_bakery")
    CommentFactory(account=account, text="Do you deliver on Sundays?")
    kept = make_account(workspace, username="bakery_cafe")
    client = Client()
    client.force_login(owner)
    browser.get(live_server.url + "/")
    browser.add_cookie({"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies["sessionid"].value})

    browser.get(live_server.url + reverse("account_detail", args=[account.pk]))
    wait_for(browser, "account-disconnect").click()
    wait_for(browser, "disconnect-explained")
    assert browser.find_element(*by_testid("history-keep")).is_selected()  # keeping is the default

    # A typo refuses, and nothing is deleted.
    browser.find_element(*by_testid("history-delete")).click()
    browser.find_element(*by_testid("confirm-username")).send_keys("corner_bakey")
    browser.find_element(*by_testid("disconnect-submit")).click()
    wait_for_text(browser, "messages", "Nothing was changed")
    assert "Type corner_bakery exactly" in browser.page_source
    assert InstagramAccount.all_workspaces.filter(pk=account.pk, state=AccountState.ACTIVE).exists()

    # The username typed: the account and its history are gone.
    assert browser.find_element(*by_testid("history-delete")).is_selected()
    typed = browser.find_element(*by_testid("confirm-username"))
    typed.clear()
    typed.send_keys("corner_bakery")
    browser.find_element(*by_testid("disconnect-submit")).click()
    wait_for_text(browser, "messages", "@corner_bakery is disconnected and its history deleted")
    assert browser.current_url == live_server.url + reverse("dashboard")
    assert not InstagramAccount.all_workspaces.filter(pk=account.pk).exists()
    assert not Comment.all_workspaces.filter(account_id=account.pk).exists()
    assert InstagramAccount.all_workspaces.filter(pk=kept.pk, state=AccountState.ACTIVE).exists()
    entry = LogEntry.objects.get(additional_data__event="account disconnected")
    assert entry.actor_email == "owner@bakery.example" and entry.additional_data["history"] == "deleted"

    console = cast(Chrome, browser).get_log("browser")
    refused = [line for line in console if "Content Security Policy" in line["message"]]
    assert not refused, refused
