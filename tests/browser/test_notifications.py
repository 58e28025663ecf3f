"""The inbox badge rises live, over the WebSocket, when a second user likes your video."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from .conftest import Flick, OpenPage, shoot
from .test_feed import wait_playing


def test_a_like_from_another_user_raises_the_badge_live(
    open_page: OpenPage, flick: Flick, clips: dict[str, Path]
) -> None:
    creator, liker = flick.signup("star"), flick.signup("admirer")
    video = flick.publish(creator, clips["feed"], "Notice me #flicktest")  # deduplicated: quick
    page = open_page(creator)
    with page.expect_websocket() as socket:  # the live channel, opened at page load
        page.goto(f"/u/{creator.username}")
    assert "/api/v1/notifications/ws?token=" in socket.value.url
    expect(page.locator(".video-cell")).to_have_count(1)
    badge = page.locator(".tabbar .badge")
    expect(badge).to_be_hidden()

    other = open_page(liker)
    other.goto(f"/v/{video['id']}")
    wait_playing(other, past_s=0.1)
    other.locator(".slide.active .action.like").click()
    expect(other.locator(".slide.active .action.like")).to_have_attribute("aria-pressed", "true")

    expect(badge).to_have_text("1", timeout=15_000)  # no reload: pushed over the WebSocket
    expect(page.locator(".toast")).to_contain_text("liked your video")
    shoot(page, "30-notification-badge")

    page.get_by_role("link", name="Inbox").click()
    item = page.locator(".notification").first
    expect(item).to_contain_text(f"{liker.username} liked your video")
    expect(badge).to_be_hidden()
    shoot(page, "31-inbox")
    assert flick.get("/notifications/unread", creator) == {"count": 0}
