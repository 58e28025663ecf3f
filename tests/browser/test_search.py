"""Search videos, accounts and hashtags from the search page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from .conftest import Flick, OpenPage, Published, shoot


def search_until_found(page: Page, query: str, result: str, timeout_s: float = 20) -> None:
    """Type `query`; the index is fed by events, so ask again until `result` shows."""
    box = page.get_by_role("searchbox", name="Search")
    box.fill(query)
    deadline = page.evaluate("Date.now()") + timeout_s * 1000
    while True:
        try:
            expect(page.locator(result).first).to_be_visible(timeout=1_000)
            return
        except AssertionError:
            assert page.evaluate("Date.now()") < deadline, f"no {result} for {query!r}"
            box.press("Enter")


def test_search_finds_videos_accounts_and_hashtags(
    open_page: OpenPage, flick: Flick, published: Published
) -> None:
    page = open_page(flick.signup("seeker"))
    page.goto("/")
    page.get_by_role("link", name="Search").click()
    expect(page.get_by_text("Find videos, creators and hashtags.")).to_be_visible()

    search_until_found(page, "sunset", ".video-cell")
    expect(page.locator(".video-cell")).to_have_count(1)
    cell = page.locator(".video-cell").first
    assert cell.get_attribute("data-video-id") == published.videos[0]["id"]
    shoot(page, "40-search-videos")

    page.get_by_role("tab", name="Accounts").click()
    search_until_found(page, published.creators[1].username, ".user-row")
    expect(page.locator(".user-row").first).to_contain_text(published.creators[1].username)
    shoot(page, "41-search-accounts")

    page.get_by_role("tab", name="Hashtags").click()
    search_until_found(page, "flicktest", ".tag-row")
    expect(page.locator(".tag-row").first).to_contain_text("flicktest")
    shoot(page, "42-search-hashtags")

    page.locator(".tag-row").first.click()  # a hashtag opens its videos
    expect(page.get_by_role("tab", name="Videos")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".video-cell").first).to_be_visible()

    cell = page.locator(".video-cell").first
    cell.click()
    expect(page.locator(".slide.active")).to_be_visible()
