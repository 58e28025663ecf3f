"""The feed: HLS playback that advances, swiping (the arrow keys), tap to pause, the sound
toggle, double-tap to like, comments, share, follow and the Following tab."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from .conftest import Flick, OpenPage, Published, shoot

ACTIVE_VIDEO = ".slide.active video"


def wait_playing(page: Page, *, index: int | None = None, past_s: float = 1.0) -> None:
    """Wait until the current slide (the `index`-th one, if given) is scrolled into place
    and plays past `past_s` through hls.js on one of the HLS renditions."""
    page.wait_for_function(
        """([index, past]) => {
            const feed = document.querySelector('.feed');
            if (index !== null && feed?.dataset.active !== String(index)) return false;
            const slide = document.querySelector('.slide.active');
            const video = slide?.querySelector('video');
            const settled = Math.abs(feed.scrollTop - slide?.offsetTop) < 2;  // scroll ended
            return settled && video && video.dataset.engine === 'hls.js'
                && !!video.dataset.level && video.currentTime > past;
        }""",
        arg=[index, past_s],
        timeout=20_000,
    )


def until(page: Page, check: Callable[[], bool], *, timeout_s: float = 20) -> None:
    """Reload until `check` holds: for what the server makes visible eventually (feeds)."""
    deadline = page.evaluate("Date.now()") + timeout_s * 1000
    while not check():
        assert page.evaluate("Date.now()") < deadline, "the page never showed it"
        page.wait_for_timeout(500)
        page.reload()


def slides(page: Page, minimum: int) -> Callable[[], bool]:
    def enough() -> bool:
        page.wait_for_selector(".slide, .feed-empty")
        return page.locator(".slide").count() >= minimum

    return enough


def test_the_feed_plays_hls_and_swipes_to_the_next_video(
    open_page: OpenPage, flick: Flick, published: Published
) -> None:
    page = open_page(flick.signup("viewer"))
    segments: list[str] = []
    page.on("request", lambda r: "/media/" in r.url and segments.append(r.url))
    page.goto("/")
    until(page, slides(page, 2))

    wait_playing(page, index=0)
    assert any(re.search(r"/media/\d+/\d+p/", url) for url in segments), segments
    assert page.locator(".slide").nth(1).locator("video").evaluate("v => v.preload") == "auto"
    shoot(page, "20-feed-for-you")

    with page.expect_response("**/api/v1/events/watch") as watch:
        page.keyboard.press("ArrowDown")  # a swipe; on a phone the finger scrolls the same list
        wait_playing(page, index=1)
    assert watch.value.status == 202
    first = page.locator(".slide").nth(0).locator("video")
    assert first.evaluate("v => v.paused")

    page.keyboard.press("ArrowUp")
    wait_playing(page, index=0, past_s=0.2)

    page.locator(".slide.active .stage").click()  # tap: pause
    expect(page.locator(".slide.active")).to_have_class(re.compile(r"\bpaused\b"))
    assert page.locator(ACTIVE_VIDEO).evaluate("v => v.paused")
    shoot(page, "21-feed-paused")
    page.locator(".slide.active .stage").click()  # tap again: play
    expect(page.locator(".slide.active")).not_to_have_class(re.compile(r"\bpaused\b"))

    assert page.locator(ACTIVE_VIDEO).evaluate("v => v.muted")
    page.locator(".slide.active .action.sound").click()
    assert not page.locator(ACTIVE_VIDEO).evaluate("v => v.muted")

    page.set_viewport_size({"width": 1280, "height": 800})  # desktop: a centred column
    page.keyboard.press("ArrowDown")
    wait_playing(page, index=1, past_s=0.2)
    shoot(page, "27-feed-desktop")


def test_double_tap_likes_and_comments_and_share(
    open_page: OpenPage, flick: Flick, published: Published
) -> None:
    viewer = flick.signup("fan")
    page = open_page(viewer, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/")
    until(page, slides(page, 1))
    wait_playing(page, past_s=0.1)
    slide = page.locator(".slide.active")
    video_id = slide.get_attribute("data-video-id")

    slide.locator(".stage").dblclick()
    like = slide.locator(".action.like")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like).to_have_text("1")
    assert flick.get(f"/videos/{video_id}", viewer)["viewer"]["liked"] is True
    expect(slide).not_to_have_class(re.compile(r"\bpaused\b"))  # a double tap does not pause

    slide.locator(".action.comments").click()
    drawer = page.get_by_role("dialog", name="Comments")
    expect(drawer).to_contain_text("Be the first to comment.")
    drawer.get_by_placeholder("Add a comment…").fill("What a view!")
    drawer.get_by_role("button", name="Post").click()
    expect(drawer.locator(".comment-text")).to_have_text(["What a view!"])
    expect(drawer.get_by_role("heading")).to_have_text("1 comment")
    shoot(page, "22-comments")
    page.keyboard.press("Escape")
    expect(drawer).to_be_hidden()
    expect(slide.locator(".action.comments")).to_have_text("1")
    comments = flick.get(f"/videos/{video_id}/comments", viewer)["items"]
    assert [c["text"] for c in comments] == ["What a view!"]

    slide.locator(".action.share").click()
    expect(page.locator(".toast")).to_have_text("Link copied")
    link = page.evaluate("navigator.clipboard.readText()")
    assert re.search(rf"/v/{video_id}\?share=\d+$", link), link
    expect(slide.locator(".action.share")).to_have_text("1")

    page.goto(link)  # where a shared link lands
    wait_playing(page, past_s=0.5)
    expect(page.locator(".slide.active")).to_have_attribute("data-video-id", video_id or "")
    shoot(page, "23-shared-link")


def test_follow_from_the_feed_fills_the_following_tab(
    open_page: OpenPage, flick: Flick, published: Published
) -> None:
    page = open_page(flick.signup("follower"))
    page.goto("/following")
    expect(page.locator(".feed-empty")).to_contain_text("Nothing from people you follow yet")
    shoot(page, "24-following-empty")

    page.get_by_role("link", name="For You", exact=True).click()
    until(page, slides(page, 1))
    slide = page.locator(".slide.active")
    creator = slide.locator(".creator").inner_text().removeprefix("@")
    slide.get_by_role("button", name=f"Follow @{creator}").click()
    expect(page.locator(".toast")).to_have_text(f"Following @{creator}")
    expect(slide.locator(".follow-plus")).to_be_hidden()

    page.get_by_role("link", name="Following", exact=True).click()
    expect(page).to_have_url(re.compile(r"/following$"))
    until(page, slides(page, 1))
    expect(page.locator(".slide.active .creator")).to_have_text(f"@{creator}")
    wait_playing(page, past_s=0.5)
    shoot(page, "25-following")

    page.locator(".slide.active .creator").click()
    expect(page).to_have_url(re.compile(rf"/u/{creator}$"))
    expect(page.locator('[data-count="followers"]')).to_have_text("1")
    expect(page.locator(".video-cell")).to_have_count(1)
    expect(page.get_by_role("button", name="Following")).to_be_visible()
    shoot(page, "26-profile")
