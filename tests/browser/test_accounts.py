"""Sign up, log out and log in again through the pages."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import PASSWORD, Flick, OpenPage, shoot


def test_sign_up_log_out_and_log_in(open_page: OpenPage, flick: Flick) -> None:
    page = open_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))  # the feed needs an account
    shoot(page, "01-login")

    page.get_by_role("link", name="Sign up").click()
    username = flick.username("newcomer")
    page.get_by_placeholder("Username").fill(username)
    page.get_by_placeholder("Display name (optional)").fill("New Comer")
    page.get_by_placeholder("Password").fill(PASSWORD)
    shoot(page, "02-signup")
    page.get_by_role("button", name="Sign up").click()

    expect(page.locator(".feed-tab.selected")).to_have_text("For You")
    assert page.evaluate("localStorage.getItem('flick.token')")

    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_role("heading", name="New Comer")).to_be_visible()
    expect(page.locator(".handle")).to_have_text(f"@{username}")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("localStorage.getItem('flick.token')") is None

    page.get_by_placeholder("Username").fill(username)
    page.get_by_placeholder("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).not_to_be_empty()  # the server's problem detail
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".feed-tab.selected")).to_have_text("For You")
